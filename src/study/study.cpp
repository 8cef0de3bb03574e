// `sublens study`: plans -> resumable steps -> tables, findings and the report. See
// include/sublens/study/study.hpp.
#include "sublens/study/study.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "internal.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/io/io.hpp"
#include "sublens/report/report.hpp"
#include "sublens/study/analysis.hpp"
#include "sublens/study/steps.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace): this module's helpers

// Paper A, Fig. 2: a layer has converged once its SSC-CKA to the final epoch reaches this.
constexpr double kConvergedCka = 0.9;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string epoch_tag(int epoch) {
  char tag[32];
  std::snprintf(tag, sizeof tag, "epoch-%04d", epoch);
  return tag;
}

std::string number_arg(double value) { return csv_number(json(value)); }  // exact, shortest

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

double get_number(const json& value) { return value.is_number() ? value.get<double>() : kNaN; }

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string(), "file", "must exist and be readable");
  try {
    return json::parse(in);
  } catch (const json::exception& error) {
    throw InputError(path.string(), "JSON", error.what());
  }
}

std::vector<std::string> model_args(const VariantPlan& v) {
  std::vector<std::string> args = {"--model", v.model};
  if (v.depth > 0) args.insert(args.end(), {"--depth", std::to_string(v.depth)});
  if (v.width > 0) args.insert(args.end(), {"--width", std::to_string(v.width)});
  if (v.base_width > 0) args.insert(args.end(), {"--base-width", std::to_string(v.base_width)});
  if (v.growth_rate > 0) {
    args.insert(args.end(), {"--growth-rate", std::to_string(v.growth_rate)});
  }
  return args;
}

// The capture points a layer selection names, in forward order (see VariantPlan::layers).
std::vector<std::string> resolve_layers(const json& points,
                                        const std::vector<std::string>& selection, const Plan& plan,
                                        const std::string& key, const std::string& model) {
  std::vector<std::string> names;
  std::vector<bool> spatial;
  for (const auto& point : points) {
    if (point["name"] == "logits") continue;
    names.push_back(point["name"].get<std::string>());
    spatial.push_back(point["shape"].size() == 3);
  }
  std::vector<std::string> chosen;
  const std::string& first = selection.at(0);
  if (first == "all") return names;
  if (first == "convs" || first == "final-conv" || first == "blocks") {
    // A block output is a spatial capture point that is neither a conv inside a block
    // ("stage1.block1.conv1") nor nested in another capture point ("block1.layer3" in "block1").
    auto nested = [&](const std::string& name) {
      for (std::size_t dot = name.find('.'); dot != std::string::npos;
           dot = name.find('.', dot + 1)) {
        if (std::find(names.begin(), names.end(), name.substr(0, dot)) != names.end()) return true;
      }
      return false;
    };
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!spatial[i]) continue;
      const std::string last = names[i].substr(names[i].rfind('.') + 1);
      if (first == "blocks" && (last.rfind("conv", 0) == 0 || nested(names[i]))) continue;
      chosen.push_back(names[i]);
    }
    if (first == "final-conv" && !chosen.empty()) chosen = {chosen.back()};
    if (chosen.empty()) {
      throw InputError(plan.file.string(), key,
                       "preset \"" + first + "\" selects no capture point of " + model);
    }
    return chosen;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (const auto& pattern : selection) {
      if (fnmatch(pattern.c_str(), names[i].c_str(), 0) == 0) {
        chosen.push_back(names[i]);
        break;
      }
    }
  }
  for (const auto& pattern : selection) {
    if (std::none_of(names.begin(), names.end(), [&](const std::string& name) {
          return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
        })) {
      throw InputError(plan.file.string(), key,
                       "\"" + pattern + "\" matches no capture point of " + model + " (" +
                           join(names, ", ") + ")");
    }
  }
  return chosen;
}

// Paths of one variant's files.
struct Paths {
  fs::path dir;
  std::string variant;
  fs::path run() const { return dir / "runs" / variant; }
  fs::path acts(int epoch) const {
    return dir / "acts" / variant / (epoch_tag(epoch) + ".safetensors");
  }
  fs::path sidecar(int epoch, const std::string& suffix) const {
    return dir / "acts" / variant / (epoch_tag(epoch) + suffix);
  }
  fs::path graphs(int epoch) const { return dir / "graphs" / variant / epoch_tag(epoch); }
  fs::path graph(int epoch, const std::string& layer) const {
    return graphs(epoch) / (io::layer_file_stem(layer) + ".npz");
  }
  fs::path heatmap(int epoch) const {
    return dir / "heatmaps" / variant / (epoch_tag(epoch) + ".npy");
  }
  fs::path checkpoint(int epoch) const {
    return run() / "checkpoints" / (epoch_tag(epoch) + ".pt");
  }
};

std::string step_name(const std::string& what, const std::string& variant, int epoch = -1,
                      const std::string& layer = "") {
  std::string name = what + "." + variant;
  if (epoch >= 0) name += "." + epoch_tag(epoch);
  if (!layer.empty()) name += "." + layer;
  return name;
}

// Spearman's rho as a finding: held when its sign is `expected_sign`; undecided when it is NaN or
// zero, or when the paper claims no direction (expected_sign 0).
std::optional<bool> sign_held(double rho, int expected_sign) {
  if (!std::isfinite(rho) || rho == 0 || expected_sign == 0) return std::nullopt;
  return expected_sign > 0 ? rho > 0 : rho < 0;
}

// ---- findings ------------------------------------------------------------------------------

// Paper A, section 4: at each learning-rate decay the layers' SSC-CKA to the final epoch jumps.
// The gain across a decay (epoch d - 1 -> d, d the first epoch at the lower rate), averaged over
// the layers, against the mean gain of the (up to 3) epoch pairs just before it, after the
// previous decay. Needs consecutive analysed epochs around each decay; nullopt when none.
std::optional<json> lr_decay_jump(const json& v) {
  const auto& dynamics = v["dynamics"];
  const int step = v["lr_step"].get<int>();
  std::map<int, double> gain;  // epoch e -> mean over layers of CKA(e) - CKA(e - 1)
  for (std::size_t r = 1; r < dynamics.size(); ++r) {
    const int epoch = dynamics[r]["epoch"].get<int>();
    if (dynamics[r - 1]["epoch"].get<int>() != epoch - 1) continue;
    double sum = 0;
    int count = 0;
    for (std::size_t l = 0; l < dynamics[r]["ssc_cka_to_final"].size(); ++l) {
      const double delta = get_number(dynamics[r]["ssc_cka_to_final"][l]) -
                           get_number(dynamics[r - 1]["ssc_cka_to_final"][l]);
      if (std::isfinite(delta)) {
        sum += delta;
        ++count;
      }
    }
    if (count > 0) gain[epoch] = sum / count;
  }
  bool held = true;
  int decays = 0;
  std::string statistic;
  for (int decay = step + 1; decay <= v["epochs"].get<int>(); decay += step) {
    if (!gain.count(decay)) continue;
    double before = 0;
    int count = 0;
    for (int e = decay - 1; e >= std::max(2, decay - 3) && e > decay - step; --e) {
      if (gain.count(e)) {
        before += gain[e];
        ++count;
      }
    }
    if (count == 0) continue;
    before /= count;
    ++decays;
    held = held && gain[decay] > before;
    statistic += (statistic.empty() ? "" : "; ") + std::string("epoch ") + std::to_string(decay) +
                 format(": gain %.3f", gain[decay]) + format(" vs %.3f per epoch before", before);
  }
  if (decays == 0) return std::nullopt;
  return finding_json(
      "SSC-CKA to the final epoch jumps at each learning-rate decay (paper A, "
      "section 4) [" +
          v["name"].get<std::string>() + "]",
      held, "mean over layers of the SSC-CKA gain across the decay: " + statistic);
}

json study_findings(const json& variants) {
  json findings = json::array();
  // Paper A, Fig. 1-2: training dynamics.
  for (const auto& v : variants) {
    const auto& dynamics = v["dynamics"];
    if (dynamics.size() < 2) continue;
    const auto& layers = v["layers"];
    const std::string name = v["name"].get<std::string>();
    std::vector<double> index, converged;
    std::string statistic;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      double epoch = kNaN;
      for (const auto& row : dynamics) {
        if (get_number(row["ssc_cka_to_final"][l]) >= kConvergedCka) {
          epoch = row["epoch"].get<double>();
          break;
        }
      }
      index.push_back(static_cast<double>(l));
      converged.push_back(epoch);
      statistic += (statistic.empty() ? "" : ", ") + layers[l].get<std::string>() + " " +
                   format("%.0f", epoch);
    }
    const double rho = report::spearman(index, converged);
    findings.push_back(finding_json(
        "Shallower layers converge earlier (paper A, Fig. 2) [" + name + "]", sign_held(rho, 1),
        "epoch at which SSC-CKA to the final epoch first reaches 0.9: " + statistic +
            format("; Spearman rho with layer index %.3f", rho)));
    int grew = 0, compared = 0;
    std::string values;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const double first = get_number(dynamics.front()["modularity"][l]);
      const double last = get_number(dynamics.back()["modularity"][l]);
      if (std::isfinite(first) && std::isfinite(last)) {
        ++compared;
        grew += last > first;
      }
      values += (values.empty() ? "" : ", ") + layers[l].get<std::string>() +
                format(" %.3f", first) + format(" -> %.3f", last);
    }
    findings.push_back(
        finding_json("Modularity grows with training (paper A, Fig. 1) [" + name + "]",
                     compared == 0 ? std::nullopt : std::optional<bool>(2 * grew > compared),
                     std::to_string(grew) + " of " + std::to_string(compared) +
                         " layers grew from the first to the last epoch: " + values));
    if (auto jump = lr_decay_jump(v)) findings.push_back(*jump);
  }
  // Paper A, Fig. 1: modularity rises with layer depth, in every network.
  {
    int tested = 0, held = 0;
    std::string statistic;
    for (const auto& v : variants) {
      const auto& last = v["modularity"].back()["values"];
      std::vector<double> index, modularity;
      for (std::size_t l = 0; l < last.size(); ++l) {
        if (!last[l].is_number()) continue;
        index.push_back(static_cast<double>(l));
        modularity.push_back(last[l].get<double>());
      }
      const double rho = report::spearman(index, modularity);
      if (index.size() < 3 || !std::isfinite(rho)) continue;
      ++tested;
      held += rho > 0;
      statistic +=
          (statistic.empty() ? "" : ", ") + v["name"].get<std::string>() + format(" %.3f", rho);
    }
    findings.push_back(finding_json(
        "Deeper layers have higher modularity (paper A, Fig. 1)",
        tested == 0 ? std::nullopt : std::optional<bool>(2 * held > tested),
        tested == 0 ? "needs a variant with >= 3 layers"
                    : "Spearman rho of final-epoch modularity with layer index: " + statistic));
  }
  // Paper A, Fig. 3-7: block-diagonal strength of the SSC-CKA heatmaps.
  std::map<std::string, std::vector<const json*>> groups;
  for (const auto& v : variants) groups[v["group"].get<std::string>()].push_back(&v);
  // Named copies, not structured bindings: lambdas may not capture those before C++20 (clang).
  for (const auto& entry : groups) {
    const std::string& group = entry.first;
    const std::vector<const json*>& members = entry.second;
    auto compare = [&](const std::string& attribute, const std::string& claim, int sign) {
      std::vector<double> x, strength;
      std::string statistic;
      std::set<double> distinct;
      for (const json* v : members) {
        const double value = (*v)[attribute].get<double>();
        const double s = get_number((*v)["heatmaps"].back()["strength"]);
        if (!std::isfinite(s)) continue;
        x.push_back(value);
        strength.push_back(s);
        distinct.insert(value);
        statistic +=
            (statistic.empty() ? "" : ", ") + (*v)["name"].get<std::string>() + format(" %.3f", s);
      }
      if (distinct.size() < 2) return;
      const double rho = report::spearman(x, strength);
      findings.push_back(finding_json(claim + " [" + group + "]", sign_held(rho, sign),
                                      "block-diagonal strength (mean SSC-CKA of adjacent layers "
                                      "minus layers >= 2 apart): " +
                                          statistic + "; Spearman rho with " + attribute +
                                          format(" %.3f", rho)));
    };
    compare("depth", "Block-diagonal structure grows with depth (paper A, Fig. 3-4)", 1);
    // Paper A, Fig. 5 shows width without claiming a direction: the statistic, no verdict.
    compare("width", "Block-diagonal structure changes with width (paper A, Fig. 5)", 0);
    compare("train_fraction",
            "Block-diagonal structure grows with less training data (paper A, Fig. 7)", -1);
  }
  for (const auto& v : variants) {
    const auto& heatmaps = v["heatmaps"];
    if (heatmaps.size() < 2) continue;
    std::vector<double> epochs, strength;
    std::string statistic;
    for (const auto& h : heatmaps) {
      epochs.push_back(h["epoch"].get<double>());
      strength.push_back(get_number(h["strength"]));
      statistic += (statistic.empty() ? "" : ", ") + std::string("epoch ") + h["epoch"].dump() +
                   format(" %.3f", strength.back());
    }
    const double rho = report::spearman(epochs, strength);
    findings.push_back(finding_json(
        "Block-diagonal structure is stronger after fewer epochs "
        "(paper A, Fig. 6) [" +
            v["name"].get<std::string>() + "]",
        sign_held(rho, -1),
        "block-diagonal strength: " + statistic + format("; Spearman rho with epoch %.3f", rho)));
  }
  // Paper B: the poorer the training, the lower the RMSE at every rank.
  for (const auto& [group, members] : groups) {
    std::vector<const json*> nmf;
    for (const json* v : members) {
      if (!(*v)["nmf"].is_null()) nmf.push_back(v);
    }
    if (nmf.size() < 2) continue;
    const auto& ranks = (*nmf.front())["nmf"]["ranks"];
    bool contradicted = false, undecided = false;
    std::string statistic;
    for (std::size_t r = 0; r < ranks.size(); ++r) {
      std::vector<double> accuracy, rmse;
      for (const json* v : nmf) {
        accuracy.push_back(get_number((*v)["final_accuracy"]));
        rmse.push_back(get_number((*v)["nmf"]["rmse"][r]));
      }
      const double rho = report::spearman(accuracy, rmse);
      const auto held = sign_held(rho, 1);
      if (!held) undecided = true;
      if (held == false) contradicted = true;
      statistic += (statistic.empty() ? "" : ", ") + std::string("rank ") + ranks[r].dump() +
                   format(" %.3f", rho);
    }
    std::string values;
    for (const json* v : nmf) {
      values += (values.empty() ? "" : ", ") + (*v)["name"].get<std::string>() +
                format(": accuracy %.3f", get_number((*v)["final_accuracy"])) +
                format(" RMSE %.4f", get_number((*v)["nmf"]["rmse"].back()));
    }
    findings.push_back(finding_json(
        "Poorer training gives lower coupled-NMF RMSE at every rank (paper B) [" + group + "]",
        contradicted ? std::optional<bool>(false)
        : undecided  ? std::nullopt
                     : std::optional<bool>(true),
        "Spearman rho of RMSE with accuracy per rank: " + statistic + " (" + values +
            "); held when rho > 0 at every rank"));
  }
  return findings;
}

// ---- tables --------------------------------------------------------------------------------

void write_tables(const json& variants, const fs::path& dir) {
  std::ostringstream table;
  table << "variant,group,model,depth,parameters,train_fraction,classes,ordered,epochs,accuracy\n";
  for (const auto& v : variants) {
    std::string classes;
    for (const auto& c : v["classes"]) classes += (classes.empty() ? "" : " ") + c.dump();
    table << csv_escape(v["name"].get<std::string>()) << ","
          << csv_escape(v["group"].get<std::string>()) << ","
          << csv_escape(v["model"].get<std::string>()) << "," << v["depth"] << ","
          << v["parameters"] << "," << csv_number(v["train_fraction"]) << "," << classes << ","
          << (v["ordered"].get<bool>() ? 1 : 0) << "," << v["epochs"] << ","
          << csv_number(v["final_accuracy"]) << "\n";
  }
  io::write_file_atomically(dir / "variants.csv", table.str());

  std::ostringstream modularity, dynamics, heatmaps, strength, nmf;
  modularity << "variant,epoch,layer_index,layer,modularity\n";
  dynamics << "variant,epoch,layer_index,layer,accuracy,modularity,ssc_cka_to_final,"
              "linear_cka_to_final\n";
  heatmaps << "variant,epoch,row_layer,col_layer,ssc_cka\n";
  strength << "variant,epoch,adjacent,distant,strength\n";
  nmf << "variant,rank,rmse\n";
  for (const auto& v : variants) {
    const std::string name = csv_escape(v["name"].get<std::string>());
    const auto& layers = v["layers"];
    for (const auto& row : v["modularity"]) {
      for (std::size_t l = 0; l < layers.size(); ++l) {
        modularity << name << "," << row["epoch"] << "," << l << ","
                   << csv_escape(layers[l].get<std::string>()) << ","
                   << csv_number(row["values"][l]) << "\n";
      }
    }
    for (const auto& row : v["dynamics"]) {
      for (std::size_t l = 0; l < layers.size(); ++l) {
        dynamics << name << "," << row["epoch"] << "," << l << ","
                 << csv_escape(layers[l].get<std::string>()) << "," << csv_number(row["accuracy"])
                 << "," << csv_number(row["modularity"][l]) << ","
                 << csv_number(row["ssc_cka_to_final"][l]) << ","
                 << csv_number(row["linear_cka_to_final"][l]) << "\n";
      }
    }
    for (const auto& h : v["heatmaps"]) {
      for (std::size_t i = 0; i < layers.size(); ++i) {
        for (std::size_t j = 0; j < layers.size(); ++j) {
          heatmaps << name << "," << h["epoch"] << "," << csv_escape(layers[i].get<std::string>())
                   << "," << csv_escape(layers[j].get<std::string>()) << ","
                   << csv_number(h["values"][i][j]) << "\n";
        }
      }
      strength << name << "," << h["epoch"] << "," << csv_number(h["adjacent"]) << ","
               << csv_number(h["distant"]) << "," << csv_number(h["strength"]) << "\n";
    }
    if (!v["nmf"].is_null()) {
      for (std::size_t r = 0; r < v["nmf"]["ranks"].size(); ++r) {
        nmf << name << "," << v["nmf"]["ranks"][r] << "," << csv_number(v["nmf"]["rmse"][r])
            << "\n";
      }
    }
  }
  io::write_file_atomically(dir / "modularity.csv", modularity.str());
  io::write_file_atomically(dir / "dynamics.csv", dynamics.str());
  io::write_file_atomically(dir / "heatmaps.csv", heatmaps.str());
  io::write_file_atomically(dir / "block-diagonal.csv", strength.str());
  io::write_file_atomically(dir / "nmf.csv", nmf.str());
}

const std::vector<std::string> kTables = {"variants.csv", "modularity.csv",     "dynamics.csv",
                                          "heatmaps.csv", "block-diagonal.csv", "nmf.csv"};

// ---- report --------------------------------------------------------------------------------

std::string figure_id(const std::string& text) {
  std::string id;
  for (char c : text) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    id += std::isalnum(static_cast<unsigned char>(lower)) ? lower : '-';
  }
  return id;
}

// Several specs in one row, each with its title (one figure, so one PNG/SVG for papers).
json side_by_side(const std::vector<std::pair<std::string, json>>& specs) {
  json row = json::array();
  for (const auto& [title, spec] : specs) {
    json one = spec;
    one.erase("$schema");
    one["title"] = title;
    row.push_back(one);
  }
  return {{"hconcat", row}, {"resolve", {{"scale", {{"color", "shared"}}}}}};
}

std::pair<int, int> png_size(const std::string& bytes) {
  if (bytes.size() < 24) return {0, 0};
  auto be32 = [&](std::size_t at) {
    return (static_cast<int>(static_cast<unsigned char>(bytes[at])) << 24) |
           (static_cast<int>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
           (static_cast<int>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
           static_cast<int>(static_cast<unsigned char>(bytes[at + 3]));
  };
  return {be32(16), be32(20)};
}

// A PNG written by a step, as an image figure scaled to at most `max_width` pixels.
std::optional<report::Figure> png_figure(const fs::path& file, const std::string& id,
                                         const std::string& title, const std::string& caption,
                                         int max_width) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto [width, height] = png_size(bytes.str());
  if (width <= 0 || height <= 0) return std::nullopt;
  const double scale = std::min(4.0, static_cast<double>(max_width) / width);
  return report::Figure{id, title, caption,
                        report::image("data:image/png;base64," + base64(bytes.str()),
                                      static_cast<int>(std::lround(width * scale)),
                                      static_cast<int>(std::lround(height * scale)))};
}

std::vector<std::vector<double>> values_of(const json& rows) {
  std::vector<std::vector<double>> values;
  for (const auto& row : rows) {
    std::vector<double> numbers;
    for (const auto& value : row) numbers.push_back(get_number(value));
    values.push_back(numbers);
  }
  return values;
}

report::Report study_report(const json& study, const fs::path& dir) {
  const auto& plan = study["plan"];
  const auto& variants = study["variants"];
  report::Report page{"sublens study: " + plan["name"].get<std::string>(),
                      plan["dataset"].get<std::string>() + ", " + plan["n"].dump() + " " +
                          plan["split"].get<std::string>() + " inputs, " +
                          std::to_string(variants.size()) +
                          " variants; every number is in study.json and the CSV tables."};
  for (const auto& item : study["findings"]) {
    page.findings.push_back(
        {item["claim"].get<std::string>(),
         item["held"].is_null() ? std::nullopt : std::optional<bool>(item["held"].get<bool>()),
         item["statistic"].get<std::string>()});
  }

  report::Section overview{"Variants",
                           "Each network of the plan, with its accuracy on the analysis set at "
                           "the final epoch."};
  report::Table table{"Variants",
                      {"variant", "group", "model", "depth", "parameters", "training fraction",
                       "classes", "ordered", "epochs", "accuracy"}};
  json modularity_records = json::array();
  for (const auto& v : variants) {
    std::string classes;
    for (const auto& c : v["classes"]) classes += (classes.empty() ? "" : " ") + c.dump();
    table.rows.push_back({v["name"], v["group"], v["model"], v["depth"], v["parameters"],
                          v["train_fraction"], classes.empty() ? "all" : classes,
                          v["ordered"].get<bool>() ? "yes" : "no", v["epochs"],
                          v["final_accuracy"]});
    const auto& last = v["modularity"].back()["values"];
    for (std::size_t l = 0; l < last.size(); ++l) {
      modularity_records.push_back({{"variant", v["name"]},
                                    {"layer index", l},
                                    {"layer", v["layers"][l]},
                                    {"modularity", last[l]}});
    }
  }
  overview.tables.push_back(table);
  auto modularity_chart = report::line_chart(modularity_records, "layer index", "modularity",
                                             "variant", "layer index", "modularity");
  modularity_chart["encoding"]["tooltip"].insert(modularity_chart["encoding"]["tooltip"].begin(),
                                                 {{"field", "layer"}});
  overview.figures.push_back({"study-modularity", "Modularity vs layer, final epoch",
                              "Modularity of each layer's SSC graph with the class labels "
                              "(eq. 5); hover a point for the layer's name.",
                              modularity_chart});
  page.sections.push_back(overview);

  // Paper A, Fig. 1-2.
  for (const auto& v : variants) {
    if (v["dynamics"].empty()) continue;
    const std::string name = v["name"].get<std::string>();
    report::Section section{"Training dynamics: " + name + " (paper A, Fig. 1-2)",
                            "Per layer, at every epoch: modularity of the SSC graph with the "
                            "class labels, and CKA of the layer at that epoch with the same layer "
                            "at the final epoch (SSC-CKA on the graphs, Linear-CKA on the "
                            "activations)."};
    const auto& layers = v["layers"];
    for (const auto& [key, title] :
         {std::pair<std::string, std::string>{"modularity", "Modularity"},
          {"ssc_cka_to_final", "SSC-CKA to the final epoch"},
          {"linear_cka_to_final", "Linear-CKA to the final epoch"}}) {
      json records = json::array();
      for (const auto& row : v["dynamics"]) {
        for (std::size_t l = 0; l < layers.size(); ++l) {
          records.push_back({{"epoch", row["epoch"]}, {"layer", layers[l]}, {key, row[key][l]}});
        }
      }
      section.figures.push_back(
          {figure_id("dynamics-" + name + "-" + key), title + " vs epoch", "",
           report::line_chart(records, "epoch", key, "layer", "epoch", title)});
    }
    report::Table accuracy{"Accuracy on the analysis set per epoch", {"epoch", "accuracy"}};
    for (const auto& row : v["dynamics"]) accuracy.rows.push_back({row["epoch"], row["accuracy"]});
    section.tables.push_back(accuracy);
    page.sections.push_back(section);
  }

  // Paper A, Fig. 3-7: heatmaps side by side per group, and per epoch within a variant.
  std::vector<std::string> group_order;
  for (const auto& v : variants) {
    const std::string group = v["group"].get<std::string>();
    if (std::find(group_order.begin(), group_order.end(), group) == group_order.end()) {
      group_order.push_back(group);
    }
  }
  for (const auto& group : group_order) {
    report::Section section{"SSC-CKA between layers: " + group + " (paper A, Fig. 3-7)",
                            "Pairwise SSC-CKA between the analysed layers of each network at its "
                            "final epoch, side by side; hover a cell for both layers and the "
                            "value. Block-diagonal strength: mean SSC-CKA of adjacent layers "
                            "minus the mean over layers two or more apart."};
    std::vector<std::pair<std::string, json>> specs;
    report::Table strength{"Block-diagonal strength",
                           {"variant", "epoch", "adjacent", "distant", "strength"}};
    for (const auto& v : variants) {
      if (v["group"] != group) continue;
      const auto names = v["layers"].get<std::vector<std::string>>();
      const auto& last = v["heatmaps"].back();
      const std::string title = v["name"] == v["model"] ? v["name"].get<std::string>()
                                                        : v["name"].get<std::string>() + " (" +
                                                              v["model"].get<std::string>() + ")";
      specs.emplace_back(title,
                         report::heatmap(names, names, values_of(last["values"]), "SSC-CKA"));
      for (const auto& h : v["heatmaps"]) {
        strength.rows.push_back(
            {v["name"], h["epoch"], h["adjacent"], h["distant"], h["strength"]});
      }
      if (v["heatmaps"].size() > 1) {
        std::vector<std::pair<std::string, json>> by_epoch;
        for (const auto& h : v["heatmaps"]) {
          by_epoch.emplace_back("epoch " + h["epoch"].dump(),
                                report::heatmap(names, names, values_of(h["values"]), "SSC-CKA"));
        }
        section.figures.push_back(
            {figure_id("heatmaps-" + v["name"].get<std::string>() + "-epochs"),
             "SSC-CKA by epoch: " + v["name"].get<std::string>(), "", side_by_side(by_epoch)});
      }
    }
    section.figures.insert(section.figures.begin(),
                           report::Figure{figure_id("heatmaps-" + group), "SSC-CKA: " + group, "",
                                          side_by_side(specs)});
    section.tables.push_back(strength);
    page.sections.push_back(section);
  }

  // Paper A, Fig. 8-9 and Table 1: the analyses of the `inputs` variants.
  for (const auto& v : variants) {
    if (!v["analysis"].is_string()) continue;
    const std::string name = v["name"].get<std::string>();
    const fs::path result_file = dir / v["analysis"].get<std::string>();
    const json result = read_json_file(result_file);
    report::Report part;
    add_analysis_to_report(result, result_file.parent_path(), part, figure_id(name) + "-");
    for (auto& finding : part.findings) {
      finding.claim += " [" + name + "]";
      page.findings.push_back(finding);
    }
    for (auto& section : part.sections) {
      section.title = name + ", final epoch: " + section.title;
      page.sections.push_back(section);
    }
  }

  // Paper B per group.
  for (const auto& group : group_order) {
    std::vector<const json*> members;
    for (const auto& v : variants) {
      if (v["group"] == group && !v["nmf"].is_null()) members.push_back(&v);
    }
    if (members.empty()) continue;
    report::Section section{"Coupled NMF: " + group + " (paper B)",
                            "RMSE of the coupled factorization of the input images and the "
                            "layers' activations against rank, the layers' top singular values "
                            "(semi-log), and at the smallest rank the latent images (columns of "
                            "P reshaped to images) and neuron x factor heatmaps (O). Paper B: the "
                            "poorer the training, the lower the RMSE at every rank."};
    json rmse = json::array(), spectra = json::array();
    report::Table table{"RMSE vs rank", {"variant", "accuracy"}, {}, 4};
    for (const auto& rank : (*members.front())["nmf"]["ranks"]) {
      table.columns.push_back("rank " + rank.dump());
    }
    for (const json* v : members) {
      const auto& nmf = (*v)["nmf"];
      std::vector<json> row = {(*v)["name"], (*v)["final_accuracy"]};
      for (std::size_t r = 0; r < nmf["ranks"].size(); ++r) {
        rmse.push_back(
            {{"variant", (*v)["name"]}, {"rank", nmf["ranks"][r]}, {"rmse", nmf["rmse"][r]}});
        row.push_back(nmf["rmse"][r]);
      }
      table.rows.push_back(row);
      for (const auto& layer : (*v)["spectra"]) {
        int k = 1;
        for (const auto& value : layer["singular_values"]) {
          if (get_number(value) > 0) {
            spectra.push_back({{"series", (*v)["name"].get<std::string>() + ": " +
                                              layer["layer"].get<std::string>()},
                               {"k", k},
                               {"singular value", value}});
          }
          ++k;
        }
      }
    }
    section.figures.push_back(
        {figure_id("nmf-rmse-" + group), "RMSE vs rank", "",
         report::line_chart(rmse, "rank", "rmse", "variant", "rank", "RMSE")});
    section.figures.push_back({figure_id("spectra-" + group), "Singular spectra", "",
                               report::line_chart(spectra, "k", "singular value", "series", "index",
                                                  "singular value", true)});
    for (const json* v : members) {
      const std::string name = (*v)["name"].get<std::string>();
      for (const auto& latent : (*v)["nmf"]["latent"]) {
        const std::string file = latent["file"].get<std::string>();
        if (auto figure = png_figure(
                dir / file, figure_id("latent-" + name + "-" + latent["block"].get<std::string>()),
                name + ": " + latent["title"].get<std::string>(), file, 640)) {
          section.figures.push_back(*figure);
        }
      }
    }
    section.tables.push_back(table);
    page.sections.push_back(section);
  }
  page.files = kTables;
  page.files.insert(page.files.begin(), "study.json");
  // Ids come from names ("a.b" and "a-b", "R8" and "r8" meet in figure_id): number repeats.
  std::set<std::string> seen;
  for (auto& section : page.sections) {
    for (auto& figure : section.figures) {
      const std::string base = figure.id;
      for (int k = 2; !seen.insert(figure.id).second; ++k)
        figure.id = base + "-" + std::to_string(k);
    }
  }
  return page;
}

json render(const report::Report& page, const fs::path& dir, bool figures) {
  const fs::path html = dir / "report.html";
  io::write_file_atomically(html, report::render_html(page));
  json out = {{"report", html.string()}, {"figures", report::count_figures(page)}};
  if (figures) {
    // The figures are a convenience next to the page and the tables: a Chromium that is missing,
    // misconfigured or fails must not turn hours of finished work into a failed run.
    std::string problem;
    try {
      const report::StaticFigures written = report::write_static_figures(page, dir / "figures");
      problem = written.skipped_reason;
    } catch (const std::exception& error) {
      problem = error.what();
    }
    if (!problem.empty()) {
      std::fprintf(stderr, "sublens: warning: static figures not written: %s\n", problem.c_str());
      out["figures_dir"] = nullptr;
      out["figures_problem"] = problem;
    } else {
      out["figures_dir"] = (dir / "figures").string();
    }
  }
  return out;
}

// What the dataset says: per-input shape (C, H, W) and class count (npy: from its headers).
struct DatasetFacts {
  std::vector<std::int64_t> shape;
  int classes = 10;
};

DatasetFacts dataset_facts(const Plan& plan) {
  if (plan.dataset == "cifar10") return {{3, 32, 32}, 10};
  if (plan.dataset == "cifar100") return {{3, 32, 32}, 100};
  if (plan.dataset != "npy") return {{1, 28, 28}, 10};
  std::vector<std::int64_t> shape;
  for (const std::string& split : std::vector<std::string>{"train", plan.split}) {
    const fs::path images = plan.data_dir / (split + "_images.npy");
    std::error_code error;
    if (!fs::is_regular_file(images, error)) {
      throw InputError(
          plan.file.string(), "dataset.data_dir",
          "must hold " + images.filename().string() + " for dataset npy (" + images.string() + ")");
    }
    const auto arrays = io::list_arrays(images);
    const auto& s = arrays.at(0).shape;
    if (s.size() != 3 && s.size() != 4) {
      throw InputError(images.string(), "shape", "must be N x H x W or N x C x H x W");
    }
    if (split == plan.split && plan.n > s[0]) {
      throw InputError(
          plan.file.string(), "analysis.n",
          "must be <= " + std::to_string(s[0]) + " (images in " + images.string() + ")");
    }
    shape = s.size() == 3 ? std::vector<std::int64_t>{1, s[1], s[2]}
                          : std::vector<std::int64_t>{s[1], s[2], s[3]};
  }
  // The class count only sizes the logits of `sublens models` (parameter counts); the labels
  // themselves are read by the training.
  return {shape, 10};
}

struct Run {
  const VariantPlan* plan;
  Paths paths;
  json description;
  std::vector<std::string> layers, nmf_layers;
  std::vector<int> epochs;  // captured epochs
  bool nmf_separate = false;
};

// Capture points of every model and the layers each variant analyses: a bad model or layer
// selection fails here, before anything is written (one `sublens models` per distinct model,
// about 0.5 s each).
std::vector<Run> resolve_variants(const Plan& plan, const DatasetFacts& facts,
                                  const fs::path& dir) {
  std::vector<Run> runs;
  std::map<std::vector<std::string>, json> described;
  for (std::size_t i = 0; i < plan.variants.size(); ++i) {
    const VariantPlan& v = plan.variants[i];
    const std::string key = "variants[" + std::to_string(i) + "]";
    std::vector<std::string> args = {"models"};
    const auto model = model_args(v);
    args.insert(args.end(), model.begin(), model.end());
    args.insert(args.end(), {"--input",
                             std::to_string(facts.shape[0]) + "," + std::to_string(facts.shape[1]) +
                                 "," + std::to_string(facts.shape[2]),
                             "--num-classes", std::to_string(facts.classes)});
    try {
      if (!described.count(args)) described[args] = run_self(args, true).at(0);
    } catch (const StepFailed& failure) {
      std::string message = failure.error_output;
      if (const auto colon = message.find("error: "); colon != std::string::npos) {
        message = message.substr(colon + 7);
      }
      message = message.substr(0, message.find('\n'));
      if (failure.exit_code != 2) {
        throw std::runtime_error(std::string(failure.what()) + ": " + message);
      }
      throw InputError(plan.file.string(), key, message);
    }
    const json& description = described[args];
    Run run{&v, Paths{dir, v.name}, description, {}, {}, {}, false};
    run.layers = resolve_layers(description["capture_points"], v.layers, plan, key + ".layers",
                                description["model"].get<std::string>());
    run.nmf_layers = plan.nmf_layers.empty() || !v.nmf
                         ? run.layers
                         : resolve_layers(description["capture_points"], plan.nmf_layers, plan,
                                          "nmf.layers", description["model"].get<std::string>());
    run.nmf_separate = !std::all_of(run.nmf_layers.begin(), run.nmf_layers.end(), [&](auto& l) {
      return std::find(run.layers.begin(), run.layers.end(), l) != run.layers.end();
    });
    if (v.dynamics) {
      for (int e = 1; e <= v.epochs; ++e) {
        if (e == 1 || e % v.dynamics_every == 0 || e == v.epochs) run.epochs.push_back(e);
      }
      // Heatmap epochs need their graphs too.
      for (int e : v.heatmap_epochs) {
        if (std::find(run.epochs.begin(), run.epochs.end(), e) == run.epochs.end()) {
          run.epochs.push_back(e);
        }
      }
      std::sort(run.epochs.begin(), run.epochs.end());
    } else {
      run.epochs = v.heatmap_epochs;
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace

json check_plan(const Plan& plan) {
  // Fixed shapes for the standard datasets: their files need not be present for a check.
  const DatasetFacts facts = dataset_facts(plan);
  json variants = json::array();
  for (const Run& run : resolve_variants(plan, facts, {})) {
    variants.push_back({{"name", run.plan->name},
                        {"model", run.description["model"]},
                        {"parameters", run.description["parameters"]},
                        {"layers", run.layers},
                        {"nmf_layers", run.plan->nmf ? json(run.nmf_layers) : json()},
                        {"epochs_analysed", run.epochs}});
  }
  return {{"plan", to_json(plan)}, {"variants", variants}};
}

json run_study(const Plan& plan, const StudyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code error;
  if (!fs::is_directory(plan.data_dir, error)) {
    throw InputError(plan.file.string(), "dataset.data_dir",
                     "must be an existing folder (" + plan.data_dir.string() + ")");
  }
  const DatasetFacts facts = dataset_facts(plan);
  const std::vector<std::int64_t>& shape = facts.shape;
  const int thread_count = options.threads >= 0 ? options.threads : plan.threads;
  const std::string threads = std::to_string(thread_count);
  if (options.output.empty()) throw std::invalid_argument("study: -o DIR is required");
  if (fs::exists(options.output, error) && !fs::is_directory(options.output, error)) {
    throw InputError(options.output.string(), "-o", "is a file, expected a folder");
  }
  const fs::path dir = fs::absolute(options.output).lexically_normal();
  std::vector<Run> runs = resolve_variants(plan, facts, dir);
  int planned = 0;
  for (const Run& run : runs) {
    const VariantPlan& v = *run.plan;
    const int layers = static_cast<int>(run.layers.size());
    const int epochs = static_cast<int>(run.epochs.size());
    planned += 1 + epochs * (2 + layers) + (v.dynamics ? 2 * epochs : 0) +
               static_cast<int>(v.heatmap_epochs.size()) +
               (v.nmf ? 2 + (run.nmf_separate ? 1 : 0) : 0);
  }
  fs::create_directories(dir);
  StepRunner steps(dir, options.who, planned);

  // ---- 2. Per variant: train, capture, SSC graphs, measures.
  json variants = json::array();
  int analysis_ran = 0, analysis_skipped = 0;  // steps of the `inputs` analyses (own records)
  for (Run& run : runs) {
    const VariantPlan& v = *run.plan;
    const Paths& paths = run.paths;
    const int last = v.epochs;
    std::vector<std::string> train = {"train"};
    const auto model = model_args(v);
    train.insert(train.end(), model.begin(), model.end());
    train.insert(train.end(), {"--dataset",
                               plan.dataset,
                               "--data-dir",
                               plan.data_dir.string(),
                               "--epochs",
                               std::to_string(v.epochs),
                               "--train-fraction",
                               number_arg(v.train_fraction),
                               "--batch-size",
                               std::to_string(v.batch_size),
                               "--lr",
                               number_arg(v.lr),
                               "--momentum",
                               number_arg(v.momentum),
                               "--weight-decay",
                               number_arg(v.weight_decay),
                               "--lr-step",
                               std::to_string(v.lr_step),
                               "--lr-gamma",
                               number_arg(v.lr_gamma),
                               "--seed",
                               std::to_string(v.seed),
                               "--threads",
                               threads,
                               "--test-n",
                               "-1",
                               "--checkpoint-every",
                               "1",
                               "--resume",
                               "-o",
                               paths.run().string()});
    if (!v.classes.empty()) {
      std::vector<std::string> classes;
      for (auto c : v.classes) classes.push_back(std::to_string(c));
      train.insert(train.end(), {"--classes", join(classes, ",")});
    }
    if (v.ordered) train.push_back("--ordered");
    // Killed mid-training, the rerun continues from the last per-epoch checkpoint (--resume).
    // A run folder trained with other options (the plan changed) is stale: start it afresh. The
    // thread count may change between runs (another machine) without discarding the training.
    // The run folder's own path is left out too, so that a study folder can be moved.
    json recipe = json::array();
    for (std::size_t a = 0; a < train.size(); ++a) {
      if (train[a] == "--threads" || train[a] == "-o") {
        ++a;
      } else {
        recipe.push_back(train[a]);
      }
    }
    // The data's bytes too: a changed dataset retrains (train --resume alone would keep the run).
    recipe.push_back("data=" + steps.hash_path(plan.data_dir));
    const fs::path recipe_file = paths.run() / "study-recipe.json";
    if (fs::exists(paths.run())) {
      json stored;
      try {
        std::ifstream in(recipe_file);
        stored = json::parse(in);
      } catch (const std::exception&) {
        stored = nullptr;
      }
      if (stored != recipe) {
        if (Progress::global_enabled()) {
          std::fprintf(stderr, "%s: %s was trained with other options; training it again\n",
                       options.who.c_str(), paths.run().c_str());
        }
        fs::remove_all(paths.run());
      }
    }
    fs::create_directories(paths.run());
    io::write_file_atomically(recipe_file, recipe.dump() + "\n");
    steps.run({step_name("train", v.name),
               train,
               {plan.data_dir},
               {paths.checkpoint(last)},
               /*capture_stderr=*/false,
               /*show_progress=*/true});

    fs::create_directories(dir / "acts" / v.name);
    fs::create_directories(dir / "graphs" / v.name);
    auto extract_args = [&](int epoch, const fs::path& output,
                            const std::vector<std::string>& layers) {
      std::vector<std::string> args = {"extract",
                                       "--run",
                                       paths.run().string(),
                                       "--epoch",
                                       std::to_string(epoch),
                                       "--split",
                                       plan.split,
                                       "--n",
                                       std::to_string(plan.n),
                                       "--sample-seed",
                                       std::to_string(plan.sample_seed),
                                       "--threads",
                                       threads,
                                       "-o",
                                       output.string()};
      if (epoch == last) args.push_back("--save-images");
      args.push_back("--layers");
      args.insert(args.end(), layers.begin(), layers.end());
      return args;
    };
    std::map<int, double> accuracy;
    json modularity = json::array();
    for (int epoch : run.epochs) {
      const json captured =
          steps
              .run({step_name("extract", v.name, epoch),
                    extract_args(epoch, paths.acts(epoch), run.layers),
                    {paths.run() / "config.json", paths.checkpoint(epoch), plan.data_dir},
                    {paths.acts(epoch), paths.sidecar(epoch, ".softmax.npy")},
                    false,
                    true})
              .at(0);
      accuracy[epoch] = captured["accuracy"].at(0).get<double>();
      steps.run({step_name("ssc", v.name, epoch),
                 {"ssc", paths.acts(epoch).string(), "--all-layers", "--tau", number_arg(plan.tau),
                  "--threads", threads, "-o", paths.graphs(epoch).string()},
                 {paths.acts(epoch)},
                 {paths.graphs(epoch)},
                 /*capture_stderr=*/false,
                 /*show_progress=*/false,
                 /*clear_outputs=*/true});
      json values = json::array();
      for (const auto& layer : run.layers) {
        const fs::path labels = paths.sidecar(epoch, ".labels.npy");
        values.push_back(steps
                             .run({step_name("modularity", v.name, epoch, layer),
                                   {"modularity", paths.graph(epoch, layer).string(), "--labels",
                                    labels.string()},
                                   {paths.graph(epoch, layer), labels},
                                   {}})
                             .at(0)["modularity"]);
      }
      modularity.push_back({{"epoch", epoch}, {"values", values}});
    }

    // `cka-matrix` lists a folder or file in its own (name) order: positions of `layers` in it.
    json dynamics = json::array();
    if (v.dynamics) {
      // One `cka-matrix` per epoch and kind (each file is read and each Gram formed once); the
      // diagonal is CKA of each layer with itself at the final epoch.
      fs::create_directories(dir / "dynamics" / v.name);
      auto to_final = [&](const std::string& kind, int epoch, const fs::path& a,
                          const fs::path& b) {
        const fs::path output =
            dir / "dynamics" / v.name / (kind + "-cka-" + epoch_tag(epoch) + "-vs-final.npy");
        const json summary =
            steps
                .run({step_name(kind + "-cka-to-final", v.name, epoch),
                      {"cka-matrix", a.string(), b.string(), "--kind", kind, "-o", output.string()},
                      {a, b},
                      {output}})
                .at(0);
        const RowMatrix matrix =
            in_layer_order(io::read_matrix(output), summary, run.layers, output.string());
        json values = json::array();
        for (Index l = 0; l < matrix.rows(); ++l) {
          const double value = matrix(l, l);
          values.push_back(std::isfinite(value) ? json(value) : json());
        }
        return values;
      };
      for (std::size_t e = 0; e < run.epochs.size(); ++e) {
        const int epoch = run.epochs[e];
        dynamics.push_back({{"epoch", epoch},
                            {"accuracy", accuracy[epoch]},
                            {"modularity", modularity[e]["values"]},
                            {"ssc_cka_to_final",
                             to_final("graph", epoch, paths.graphs(epoch), paths.graphs(last))},
                            {"linear_cka_to_final",
                             to_final("linear", epoch, paths.acts(epoch), paths.acts(last))}});
      }
    }

    json heatmaps = json::array();
    for (int epoch : v.heatmap_epochs) {
      fs::create_directories(paths.heatmap(epoch).parent_path());
      const json summary = steps
                               .run({step_name("heatmap", v.name, epoch),
                                     {"cka-matrix", paths.graphs(epoch).string(), "--kind", "graph",
                                      "-o", paths.heatmap(epoch).string()},
                                     {paths.graphs(epoch)},
                                     {paths.heatmap(epoch)}})
                               .at(0);
      const RowMatrix ordered = in_layer_order(io::read_matrix(paths.heatmap(epoch)), summary,
                                               run.layers, paths.heatmap(epoch).string());
      const auto [adjacent, distant] = block_diagonal(ordered);
      heatmaps.push_back(
          {{"epoch", epoch},
           {"values", matrix_json(ordered)},
           {"file", relative_to_dir(paths.heatmap(epoch), dir)},
           {"adjacent", std::isfinite(adjacent) ? json(adjacent) : json()},
           {"distant", std::isfinite(distant) ? json(distant) : json()},
           {"strength", std::isfinite(adjacent - distant) ? json(adjacent - distant) : json()}});
    }

    // Paper A, Fig. 8-9 and Table 1 on the final network.
    json analysis = nullptr;
    if (v.inputs) {
      AnalysisOptions options_a;
      options_a.activations = paths.acts(last);
      options_a.labels = paths.sidecar(last, ".labels.npy");
      options_a.predictions = paths.sidecar(last, ".predictions.npy");
      options_a.logits = paths.sidecar(last, ".softmax.npy");
      options_a.images = paths.sidecar(last, ".images.npy");
      options_a.graphs = paths.graphs(last);
      options_a.output = dir / "variants" / v.name;
      options_a.threads = thread_count;
      options_a.tau = plan.tau;
      options_a.confidently_wrong = plan.confidently_wrong;
      options_a.top = plan.top;
      options_a.spectrum_k = plan.spectrum_k;
      options_a.nmf = false;
      options_a.write_report = false;
      options_a.who = options.who + ": " + v.name;
      options_a.key_root = dir;
      const json result = run_analysis(options_a);
      analysis_ran += result["steps_run"].get<int>();
      analysis_skipped += result["steps_skipped"].get<int>();
      analysis = relative_to_dir(options_a.output / "result.json", dir);
    }

    // Paper B.
    json nmf = nullptr, spectra = nullptr;
    if (v.nmf) {
      fs::path acts = paths.acts(last);
      if (run.nmf_separate) {
        acts = dir / "acts" / v.name / "nmf.safetensors";
        steps.run({step_name("extract-nmf", v.name),
                   extract_args(last, acts, run.nmf_layers),
                   {paths.run() / "config.json", paths.checkpoint(last), plan.data_dir},
                   {acts}});
      }
      std::vector<std::string> ranks;
      for (int rank : plan.nmf_ranks) ranks.push_back(std::to_string(rank));
      const fs::path nmf_dir = dir / "nmf" / v.name;
      const fs::path images = paths.sidecar(last, ".images.npy");
      std::vector<std::string> args = {"factorize",
                                       "--inputs",
                                       images.string(),
                                       "--acts",
                                       acts.string(),
                                       "--ranks",
                                       join(ranks, ","),
                                       "--seeds",
                                       "1",
                                       "--seed",
                                       std::to_string(v.seed),
                                       "--solver",
                                       "hals",
                                       "--max-iter",
                                       std::to_string(plan.nmf_max_iterations),
                                       "--shift-min",
                                       "-o",
                                       nmf_dir.string(),
                                       "--layers"};
      args.insert(args.end(), run.nmf_layers.begin(), run.nmf_layers.end());
      const json sweep =
          steps.run({step_name("nmf", v.name), args, {images, acts}, {nmf_dir / "sweep.csv"}})
              .at(0);
      json rmse = json::array();
      for (const auto& rank : sweep["ranks"]) rmse.push_back(rank["rmse_mean"]);
      // Latent images and neuron x factor heatmaps at the smallest rank (paper B, study III).
      const std::string rank_dir = "rank" + std::to_string(plan.nmf_ranks.front());
      json latent = json::array();
      for (int c = 0; c < static_cast<int>(std::max<std::int64_t>(1, shape[0])); ++c) {
        const fs::path file = nmf_dir / rank_dir / ("P_" + std::to_string(c) + ".png");
        if (fs::exists(file)) {
          latent.push_back({{"block", "P_" + std::to_string(c)},
                            {"title", "latent images (P, channel " + std::to_string(c) + ")"},
                            {"file", relative_to_dir(file, dir)}});
        }
      }
      for (const auto& layer : run.nmf_layers) {
        const fs::path file = nmf_dir / rank_dir / ("O_" + io::layer_file_stem(layer) + ".png");
        if (fs::exists(file)) {
          latent.push_back({{"block", "O_" + layer},
                            {"title", "neuron x factor (O, " + layer + ")"},
                            {"file", relative_to_dir(file, dir)}});
        }
      }
      nmf = {{"ranks", plan.nmf_ranks},
             {"rmse", rmse},
             {"layers", run.nmf_layers},
             {"csv", relative_to_dir(nmf_dir / "sweep.csv", dir)},
             {"latent", latent}};
      std::vector<std::string> spectrum_args = {"spectrum", acts.string(),
                                                "-k",       std::to_string(plan.spectrum_k),
                                                "-o",       (dir / "spectra" / v.name).string(),
                                                "--layers"};
      spectrum_args.insert(spectrum_args.end(), run.nmf_layers.begin(), run.nmf_layers.end());
      const json spectrum = steps
                                .run({step_name("spectrum", v.name),
                                      spectrum_args,
                                      {acts},
                                      {dir / "spectra" / v.name / "spectrum.csv"}})
                                .at(0);
      spectra = json::array();
      for (const auto& layer : spectrum["layers"]) {
        spectra.push_back(
            {{"layer", layer["layer"]}, {"singular_values", layer["singular_values"]}});
      }
    }

    json accuracy_rows = json::array();
    for (const auto& [epoch, value] : accuracy) {
      accuracy_rows.push_back({{"epoch", epoch}, {"accuracy", value}});
    }
    variants.push_back({{"name", v.name},
                        {"group", v.group},
                        {"model", run.description["model"]},
                        {"family", run.description["family"]},
                        {"depth", run.description["spec"]["depth"]},
                        {"width", run.description["spec"]["width"]},
                        {"parameters", run.description["parameters"]},
                        {"train_fraction", v.train_fraction},
                        {"classes", v.classes},
                        {"ordered", v.ordered},
                        {"epochs", v.epochs},
                        {"lr_step", v.lr_step},
                        {"layers", run.layers},
                        {"accuracy", accuracy_rows},
                        {"final_accuracy", accuracy[last]},
                        {"modularity", modularity},
                        {"dynamics", dynamics},
                        {"heatmaps", heatmaps},
                        {"analysis", analysis},
                        {"nmf", nmf},
                        {"spectra", spectra},
                        {"run", relative_to_dir(paths.run(), dir)}});
  }

  // ---- 3. Findings, tables, study.json (no timings: a rerun writes identical bytes), report.
  const json findings = study_findings(variants);
  write_tables(variants, dir);
  const json study = {{"command", "study"},
                      {"plan", to_json(plan)},
                      {"variants", variants},
                      {"findings", findings}};
  io::write_file_atomically(dir / "study.json", study.dump(1) + "\n");
  json summary = {{"command", "study"},
                  {"plan", plan.file.string()},
                  {"output", dir.string()},
                  {"study", (dir / "study.json").string()},
                  {"tables", kTables},
                  {"findings", findings},
                  {"steps_run", steps.ran() + analysis_ran},
                  {"steps_skipped", steps.skipped() + analysis_skipped}};
  if (options.write_report) {
    const json rendered = render(study_report(study, dir), dir, options.figures);
    summary.update(rendered);
    if (Progress::global_enabled()) {
      std::fprintf(stderr, "%s: report written to %s\n", options.who.c_str(),
                   rendered["report"].get<std::string>().c_str());
    }
  }
  summary["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

json render_report(const fs::path& dir, bool figures) {
  std::error_code error;
  if (fs::is_regular_file(dir / "study.json", error)) {
    const json study = read_json_file(dir / "study.json");
    if (study.value("command", "") != "study") {
      throw InputError((dir / "study.json").string(), "command", "must be \"study\"");
    }
    return render(study_report(study, fs::absolute(dir)), dir, figures);
  }
  if (fs::is_regular_file(dir / "result.json", error)) {
    const json result = read_json_file(dir / "result.json");
    if (result.value("command", "") != "analyze") {
      throw InputError((dir / "result.json").string(), "command", "must be \"analyze\"");
    }
    report::Report page{"sublens analyze", result["activations"].get<std::string>() + ": " +
                                               result["n_inputs"].dump() + " inputs, " +
                                               std::to_string(result["layers"].size()) +
                                               " layers, " + result["n_classes"].dump() +
                                               " classes"};
    add_analysis_to_report(result, dir, page);
    page.files = result["files"].get<std::vector<std::string>>();
    return render(page, dir, figures);
  }
  throw InputError(dir.string(), "DIR",
                   "must hold study.json (from `sublens study`) or result.json (from `sublens "
                   "analyze`)");
}

}  // namespace sublens::study
