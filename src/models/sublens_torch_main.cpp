// The `sublens-torch` companion executable; see sublens::models::torch_main.
#include "sublens/core/blas.hpp"
#include "sublens/models/models.hpp"

int main(int argc, char** argv) {
  // LibTorch's CPU kernels call the same OpenBLAS: run the kernels the CPU supports. (Started by
  // `sublens`, it inherits the choice and does not re-execute.)
  sublens::blas::select_kernels(argv);
  return sublens::models::torch_main(argc, argv);
}
