// Helpers shared by the study module (the analyze and study pipelines, findings, tables, reports);
// not installed. pipeline.hpp declares the parts of a study, findings.hpp the claims.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::study::detail {

using nlohmann::json;

// The mean and the sample standard deviation (NaN for fewer than two values) of seed/value pairs:
// the spread of replicates, in replicates.csv and in the report's figures.
struct MeanSd {
  double mean = 0, sd = 0;
};
inline MeanSd mean_sd(const std::vector<std::pair<std::string, double>>& values) {
  MeanSd out;
  double ss = 0;
  for (const auto& [seed, value] : values) out.mean += value / static_cast<double>(values.size());
  for (const auto& [seed, value] : values) ss += (value - out.mean) * (value - out.mean);
  out.sd = values.size() > 1 ? std::sqrt(ss / static_cast<double>(values.size() - 1))
                             : std::numeric_limits<double>::quiet_NaN();
  return out;
}

inline std::vector<double> matrix_row(const RowMatrix& matrix, Index row) {
  return std::vector<double>(matrix.row(row).begin(), matrix.row(row).end());
}

inline json matrix_json(const RowMatrix& matrix) {
  json rows = json::array();
  for (Index i = 0; i < matrix.rows(); ++i) rows.push_back(matrix_row(matrix, i));
  return rows;
}

inline std::string relative_to_dir(const std::filesystem::path& path,
                                   const std::filesystem::path& dir) {
  return std::filesystem::relative(path, dir).generic_string();
}

inline std::string format(const char* pattern, double value) {
  char text[128];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

inline std::string base64(const std::string& bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t a = static_cast<unsigned char>(bytes[i]);
    const std::uint32_t b = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    const std::uint32_t c = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0;
    const std::uint32_t triple = (a << 16) | (b << 8) | c;
    out += kDigits[(triple >> 18) & 63];
    out += kDigits[(triple >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(triple >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[triple & 63] : '=';
  }
  return out;
}

inline std::string csv_escape(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The shortest text that reads back as the same double (std::to_chars), "" for null: exact and
// byte-stable, without %.17g's 0.10000000000000001.
inline std::string csv_number(const json& value) {
  if (!value.is_number()) return "";
  char text[64];
  const auto end = std::to_chars(text, text + sizeof text, value.get<double>()).ptr;
  return std::string(text, end);
}

// Mean of the off-diagonal entries at layer distance 1 minus the mean at distance >= 2: how much
// more similar neighbouring layers are than distant ones (block-diagonal strength).
inline std::pair<double, double> block_diagonal(const RowMatrix& cka) {
  double near = 0, far = 0;
  int n_near = 0, n_far = 0;
  for (Index i = 0; i < cka.rows(); ++i) {
    for (Index j = 0; j < cka.cols(); ++j) {
      if (i == j || !std::isfinite(cka(i, j))) continue;
      if (std::abs(i - j) == 1) {
        near += cka(i, j);
        ++n_near;
      } else {
        far += cka(i, j);
        ++n_far;
      }
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {n_near ? near / n_near : nan, n_far ? far / n_far : nan};
}

// A `cka-matrix` result with its rows and columns put in `layers` order: the command lists a
// folder of graphs in name order ("conv2" before "pool1"), which `summary` ("rows", "cols") names;
// heatmaps, diagonals and the block-diagonal finding need the network's order.
inline RowMatrix in_layer_order(const RowMatrix& matrix, const json& summary,
                                const std::vector<std::string>& layers, const std::string& what) {
  auto positions = [&](const json& names) {
    std::vector<Index> position;
    for (const auto& layer : layers) {
      const auto found = std::find(names.begin(), names.end(), layer);
      if (found == names.end()) throw std::runtime_error(what + " has no layer " + layer);
      position.push_back(static_cast<Index>(found - names.begin()));
    }
    return position;
  };
  const std::vector<Index> row = positions(summary.at("rows"));
  const std::vector<Index> col = positions(summary.at("cols"));
  const auto n = static_cast<Index>(layers.size());
  RowMatrix ordered(n, n);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < n; ++j) ordered(i, j) = matrix(row[i], col[j]);
  }
  return ordered;
}

// A paper's claim checked against a run: held true/false, or null when the run cannot decide.
inline json finding_json(const std::string& claim, std::optional<bool> held,
                         const std::string& statistic) {
  return {{"claim", claim}, {"held", held ? json(*held) : json()}, {"statistic", statistic}};
}

}  // namespace sublens::study::detail
