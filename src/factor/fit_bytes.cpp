// fit_to_bytes / fit_from_bytes (coupled_nmf.hpp): a CoupledNmfResult as bytes, to send it from
// the process that ran the fit to the one that writes (sublens factorize under mpirun).
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "sublens/factor/coupled_nmf.hpp"

namespace sublens::factor {
namespace {

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put(const std::vector<double>& values) {
    put(static_cast<std::uint64_t>(values.size()));
    bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  }
  void put(const Matrix& m) {
    put(static_cast<std::int64_t>(m.rows()));
    put(static_cast<std::int64_t>(m.cols()));
    bytes_.append(reinterpret_cast<const char*>(m.data()),
                  static_cast<std::size_t>(m.size()) * sizeof(double));
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value{};
    copy(&value, sizeof(T));
    return value;
  }
  std::vector<double> doubles() {
    std::vector<double> values(get<std::uint64_t>());
    copy(values.data(), values.size() * sizeof(double));
    return values;
  }
  Matrix matrix() {
    const auto rows = get<std::int64_t>();
    const auto cols = get<std::int64_t>();
    Matrix m(rows, cols);
    copy(m.data(), static_cast<std::size_t>(m.size()) * sizeof(double));
    return m;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  void copy(void* to, std::size_t n) {
    if (n > bytes_.size() - at_) throw std::runtime_error("factorize: a fit's bytes are cut short");
    std::memcpy(to, bytes_.data() + at_, n);
    at_ += n;
  }
  const std::string& bytes_;
  std::size_t at_ = 0;
};

}  // namespace

std::string fit_to_bytes(const CoupledNmfResult& fit) {
  Writer w;
  w.put(fit.factors.shared);
  w.put(static_cast<std::uint64_t>(fit.factors.blocks.size()));
  for (const auto& block : fit.factors.blocks) w.put(block);
  w.put(fit.objective_history);
  w.put(fit.objective);
  w.put(fit.squared_error);
  w.put(fit.block_rmse);
  w.put(fit.rmse);
  w.put(fit.block_relative_rmse);
  w.put(fit.relative_rmse);
  w.put(static_cast<std::int32_t>(fit.iterations));
  w.put(static_cast<std::int32_t>(fit.converged ? 1 : 0));
  w.put(fit.seconds);
  return w.take();
}

CoupledNmfResult fit_from_bytes(const std::string& bytes) {
  Reader r(bytes);
  CoupledNmfResult fit;
  fit.factors.shared = r.matrix();
  fit.factors.blocks.resize(r.get<std::uint64_t>());
  for (auto& block : fit.factors.blocks) block = r.matrix();
  fit.objective_history = r.doubles();
  fit.objective = r.get<double>();
  fit.squared_error = r.doubles();
  fit.block_rmse = r.doubles();
  fit.rmse = r.get<double>();
  fit.block_relative_rmse = r.doubles();
  fit.relative_rmse = r.get<double>();
  fit.iterations = r.get<std::int32_t>();
  fit.converged = r.get<std::int32_t>() != 0;
  fit.seconds = r.get<double>();
  if (!r.done()) throw std::runtime_error("factorize: a fit's bytes have trailing data");
  return fit;
}

}  // namespace sublens::factor
