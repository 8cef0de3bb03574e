// The `sublens-torch` companion executable; see sublens::models::torch_main.
#include "sublens/models/models.hpp"

int main(int argc, char** argv) { return sublens::models::torch_main(argc, argv); }
