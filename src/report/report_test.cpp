#include "sublens/report/report.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>

namespace sublens::report {
namespace {

namespace fs = std::filesystem;

constexpr double kTol = 1e-12;

// A 2 x 2 RGB PNG (red, blue / green, white), written with Python's zlib.
constexpr const char* kTinyPngUrl =
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4zwAE/"
    "0Ho////AB/uBftt3M6tAAAAAElFTkSuQmCC";

// A fresh folder under the system temporary folder, removed with its contents at the end.
class TemporaryFolder {
 public:
  TemporaryFolder() {
    std::string pattern = (fs::temp_directory_path() / "sublens-report-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Sets (or, with nullopt, unsets) an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::uint32_t big_endian_u32(const std::string& bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes.at(offset + i));
  }
  return value;
}

using nlohmann::json;

Report one_section(std::vector<Figure> figures) {
  Report page{"t", "s"};
  page.sections.push_back(Section{"sec", "", std::move(figures)});
  return page;
}

TEST(Spearman, MonotoneSequencesGiveOne) {
  const std::vector<double> x = {1, 2, 3, 4};
  const std::vector<double> y = {0.1, 0.5, 0.7, 2.0};

  EXPECT_NEAR(spearman(x, y), 1.0, kTol);
  EXPECT_NEAR(spearman(x, {4, 3, 2, 1}), -1.0, kTol);
}

TEST(Spearman, TiesGetAverageRanks) {
  // Ranks of y: 1, 2.5, 2.5, 4; by hand rho = 4.5 / sqrt(5 * 4.5).
  const double rho = spearman({1, 2, 3, 4}, {1, 2, 2, 3});

  EXPECT_NEAR(rho, 4.5 / std::sqrt(5.0 * 4.5), kTol);
}

TEST(Spearman, PairsWithNaNAreDropped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Without the NaN pair the sequences are reversed: rho = -1 (scipy.stats.spearmanr with
  // nan_policy="omit" gives the same).
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {3, nan, 2, 1}), -1.0, kTol);
  EXPECT_TRUE(std::isnan(spearman({1, 2, 3}, {nan, nan, 1})));
}

TEST(Spearman, ConstantOrShortIsNaN) {
  EXPECT_TRUE(std::isnan(spearman({1, 2, 3}, {5, 5, 5})));
  EXPECT_TRUE(std::isnan(spearman({1}, {2})));
  EXPECT_THROW(spearman({1, 2}, {1}), std::invalid_argument);
}

TEST(RenderHtml, InlinesLibrariesSpecsAndEscapesScriptEnd) {
  Report page{"t", "s"};
  Section section{"sec", "text <b>"};
  section.figures.push_back(
      {"heat", "Heat", "",
       heatmap({"a</script>", "b"}, {"a</script>", "b"}, {{1, 0.5}, {0.5, 1}}, "CKA")});
  section.tables.push_back({"tab", {"x", "y"}, {{"r", 0.123456}}, 2});
  page.sections.push_back(section);
  page.findings.push_back({"claim", true, "rho = 1"});

  const std::string html = render_html(page);

  EXPECT_NE(html.find("vega-embed"), std::string::npos);
  EXPECT_NE(html.find("a<\\/script>"), std::string::npos);
  EXPECT_EQ(html.find("a</script>"), std::string::npos);
  EXPECT_NE(html.find("text &lt;b&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td>0.12</td>"), std::string::npos);
  EXPECT_EQ(count_figures(page), 1);
}

TEST(RenderHtml, DuplicateFigureIdThrows) {
  Report page{"t", "s"};
  Section section{"sec", ""};
  section.figures.push_back(
      {"x", "X", "", line_chart(nlohmann::json::array(), "a", "b", "", "", "")});
  section.figures.push_back(section.figures.back());
  page.sections.push_back(section);

  EXPECT_THROW(render_html(page), std::invalid_argument);
}

TEST(Heatmap, ShapeMismatchNamesBothSizes) {
  try {
    heatmap({"a", "b"}, {"a"}, {{1.0}}, "CKA");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("1 rows of values but 2 row names"),
              std::string::npos);
  }
}

TEST(Heatmap, ShowsValuesInCellsBehindOneCheckboxAndALegend) {
  const json spec = heatmap({"a", "b"}, {"a", "b"}, {{1, 0.25}, {0.25, 1}}, "CKA");
  ASSERT_EQ(spec["layer"].size(), 2u);
  EXPECT_EQ(spec["layer"][0]["encoding"]["color"]["title"], "CKA");
  EXPECT_TRUE(spec["layer"][0]["encoding"]["color"].contains("legend"));
  EXPECT_EQ(spec["layer"][1]["mark"]["type"], "text");
  EXPECT_EQ(spec["layer"][1]["encoding"]["text"]["format"], ".2f");
  ASSERT_EQ(spec["params"].size(), 1u);
  EXPECT_EQ(spec["params"][0]["value"], true);  // static figures keep the values
  EXPECT_EQ(spec["params"][0]["bind"]["input"], "checkbox");
  // 21 x 21 cells: too small for text, a plain heatmap.
  const std::vector<std::string> many(21, "n");
  const json big =
      heatmap(many, many, std::vector<std::vector<double>>(21, std::vector<double>(21)), "O");
  EXPECT_EQ(big["layer"].size(), 1u);
  EXPECT_FALSE(big.contains("params"));
}

TEST(Panels, WrapToTheWidthShareTheColourScaleAndOneCheckbox) {
  std::vector<std::pair<std::string, json>> specs;
  std::vector<std::string> layers;
  for (int i = 0; i < 8; ++i) layers.push_back("l" + std::to_string(i));
  const std::vector<std::vector<double>> values(8, std::vector<double>(8, 0.5));
  for (const std::string net : {"resnet-8", "resnet-14", "resnet-20"}) {
    specs.emplace_back(net, heatmap(layers, layers, values, "SSC-CKA"));
  }
  const json figure = panels(specs, 1100);
  const int width = specs[0].second["width"].get<int>();  // 8 cells of 45 px
  EXPECT_EQ(width, 360);
  // Two 360 px panels with their axes fit in 1100 px; three do not.
  EXPECT_EQ(figure["columns"], 2);
  EXPECT_EQ(figure["concat"].size(), 3u);
  EXPECT_EQ(figure["concat"][2]["title"], "resnet-20");
  EXPECT_FALSE(figure["concat"][0].contains("params"));
  EXPECT_EQ(figure["params"].size(), 1u);
  EXPECT_EQ(figure["resolve"]["scale"]["color"], "shared");
  EXPECT_EQ(panels({specs[0]}, 1100)["columns"], 1);
}

TEST(RenderHtml, EveryFigureHasACsvLink) {
  const Report page = one_section({{"a", "A", "", heatmap({"x"}, {"x"}, {{1.0}}, "CKA")},
                                   {"b", "B", "", heatmap({"y"}, {"y"}, {{0.5}}, "CKA")}});
  const std::string html = render_html(page);
  EXPECT_NE(html.find("id=\"csv-a\" download=\"a.csv\""), std::string::npos);
  EXPECT_NE(html.find("id=\"csv-b\" download=\"b.csv\""), std::string::npos);
  EXPECT_NE(html.find("data-overflow"), std::string::npos);
}

// Every <h2>/<h3> text of the page, the h3 prefixed by the h2 it is under ("h2 > h3").
std::map<std::string, int> heading_counts(const std::string& html) {
  std::map<std::string, int> counts;
  const std::regex heading("<h([23])>([^<]*)</h[23]>");
  std::string h2;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), heading);
       it != std::sregex_iterator(); ++it) {
    const std::string text = (*it)[2];
    if ((*it)[1] == "2") h2 = text;
    ++counts[(*it)[1] == "2" ? text : h2 + " > " + text];
  }
  return counts;
}

TEST(RenderHtml, HeadingsAreUniqueSectionsAndTablesOfOneTitleMerge) {
  Report page{"t", "s"};
  const json chart = line_chart(json::array(), "a", "b", "", "", "");
  page.sections.push_back(
      {"CKA", "per network", {{"x", "X", "", chart}}, {{"summary", {"net", "q"}, {{"a", 0.5}}}}});
  page.sections.push_back({"Modularity", "", {{"y", "Y", "", chart}}});
  page.sections.push_back(
      {"CKA", "per group", {{"z", "Z", "", chart}}, {{"summary", {"net", "q"}, {{"b", 0.25}}}}});
  page.findings.push_back({"deeper layers are more modular", true, "rho = 0.8"});
  page.findings.push_back(page.findings.back());
  page.files = {"w.npz"};

  const std::string html = render_html(page);

  const auto counts = heading_counts(html);
  for (const auto& [heading, count] : counts) EXPECT_EQ(count, 1) << heading;
  EXPECT_EQ(counts.count("CKA > summary"), 1u);
  EXPECT_EQ(counts.count("Findings"), 1u);
  // The second CKA section's text, figure and rows joined the first, before "Modularity".
  const auto cka = html.find("<h2>CKA</h2>");
  const auto modularity = html.find("<h2>Modularity</h2>");
  EXPECT_LT(html.find("<p>per group</p>", cka), modularity);
  EXPECT_LT(html.find("id=\"fig-z\"", cka), modularity);
  EXPECT_LT(html.find("<td>b</td>", cka), modularity);
  std::size_t claims = 0;
  for (auto at = html.find("deeper layers are more modular"); at != std::string::npos;
       at = html.find("deeper layers are more modular", at + 1)) {
    ++claims;
  }
  EXPECT_EQ(claims, 1u);
  EXPECT_EQ(count_figures(page), 3);
}

TEST(RenderHtml, HeadingsThatCannotMergeAreRefused) {
  Report page{"t", "s"};
  page.sections.push_back({"Files", ""});
  EXPECT_THROW(render_html(page), std::invalid_argument);
  page.sections = {{"CKA", "", {}, {{"summary", {"a"}, {}}, {"summary", {"b"}, {}}}}};
  EXPECT_THROW(render_html(page), std::invalid_argument);
}

TEST(LayerColors, OneColourPerLayerInNetworkOrderWhateverTheFigureShows) {
  const std::vector<std::string> layers = {"conv1", "stage1", "stage2", "pool", "logits"};
  const json scale = layer_color_scale(layers);
  EXPECT_EQ(scale["domain"], json(layers));
  ASSERT_EQ(scale["range"].size(), layers.size());
  for (std::size_t k = 0; k < layers.size(); ++k) EXPECT_EQ(scale["range"][k], layer_palette()[k]);
  EXPECT_EQ(layer_palette().size(), 20u);
  // 21 layers: the palette repeats.
  std::vector<std::string> many;
  for (int k = 0; k < 21; ++k) many.push_back("l" + std::to_string(k));
  EXPECT_EQ(layer_color_scale(many)["range"][20], layer_palette()[0]);
  EXPECT_THROW(layer_color_scale({"a", "a"}), std::invalid_argument);

  // A figure of two layers and a panel figure get the network's scale on their layer colours.
  const json rows = json::array({{{"epoch", 1}, {"q", 0.5}, {"layer", "pool"}},
                                 {{"epoch", 1}, {"q", 0.4}, {"layer", "stage1"}}});
  const json lines = with_layer_colors(line_chart(rows, "epoch", "q", "layer", "", ""), layers);
  EXPECT_EQ(lines["encoding"]["color"]["scale"], scale);
  const json two = panels({{"a", line_chart(rows, "epoch", "q", "layer", "", "")},
                           {"b", line_chart(rows, "epoch", "q", "layer", "", "")}});
  const json coloured = with_layer_colors(two, layers);
  EXPECT_EQ(coloured["concat"][1]["encoding"]["color"]["scale"], scale);
  const json by_class = with_layer_colors(line_chart(rows, "epoch", "q", "class", "", ""), layers);
  EXPECT_FALSE(by_class["encoding"]["color"].contains("scale"));
}

TEST(Image, SpecShowsTheDataUrlAtTheGivenSize) {
  const nlohmann::json spec = image(kTinyPngUrl, 120, 80);

  EXPECT_EQ(spec["mark"]["type"], "image");
  EXPECT_EQ(spec["width"], 120);
  EXPECT_EQ(spec["height"], 80);
  EXPECT_EQ(spec["data"]["values"][0]["url"], kTinyPngUrl);
}

TEST(Image, RejectsRemoteUrlsAndEmptySizes) {
  EXPECT_THROW(image("https://example.com/a.png", 10, 10), std::invalid_argument);
  EXPECT_THROW(image(kTinyPngUrl, 0, 10), std::invalid_argument);
  EXPECT_THROW(image(kTinyPngUrl, 10, -1), std::invalid_argument);
}

TEST(StaticFigures, WritesSvgAndPngOfEveryFigure) {
  const std::vector<std::string> layers = {"conv-stem", "block-two", "fc-head"};
  const nlohmann::json points = {{{"layer_index", 0}, {"modularity", 0.1}},
                                 {{"layer_index", 1}, {"modularity", 0.3}},
                                 {{"layer_index", 2}, {"modularity", 0.6}}};
  const Report page =
      one_section({{"modularity", "Modularity", "",
                    line_chart(points, "layer_index", "modularity", "", "", "")},
                   {"ssc-cka", "SSC-CKA", "",
                    heatmap(layers, layers, {{1, 0.5, 0.2}, {0.5, 1, 0.4}, {0.2, 0.4, 1}}, "CKA")},
                   {"latent-0", "Latent 0", "", image(kTinyPngUrl, 120, 120)}});
  TemporaryFolder folder;
  const fs::path dir = folder.path() / "figures";

  const StaticFigures figures = write_static_figures(page, dir);

  if (!figures.skipped_reason.empty()) GTEST_SKIP() << figures.skipped_reason;
  ASSERT_EQ(figures.files.size(), 6u);
  for (const std::string id : {"modularity", "ssc-cka", "latent-0"}) {
    const std::string svg = read_bytes(dir / (id + ".svg"));
    const std::string png = read_bytes(dir / (id + ".png"));
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << id;
    ASSERT_GE(png.size(), 24u) << id;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << id;
    EXPECT_EQ(png.substr(12, 4), "IHDR") << id;
    EXPECT_GT(big_endian_u32(png, 16), 100u) << id;  // width
    EXPECT_GT(big_endian_u32(png, 20), 100u) << id;  // height
  }
  const std::string heatmap_svg = read_bytes(dir / "ssc-cka.svg");
  for (const auto& layer : layers) {
    EXPECT_NE(heatmap_svg.find(">" + layer + "<"), std::string::npos) << layer;
  }
  EXPECT_NE(heatmap_svg.find(">0.40<"), std::string::npos);  // static figures keep the values
  EXPECT_NE(read_bytes(dir / "latent-0.svg").find(kTinyPngUrl), std::string::npos);
  // 2x scale: the 120 x 120 image plus 5 px padding on each side.
  EXPECT_EQ(big_endian_u32(read_bytes(dir / "latent-0.png"), 16), 260u);
  EXPECT_EQ(figures.files.front(), dir / "modularity.svg");
}

TEST(StaticFigures, FiguresThatDoNotRenderThrowNamingEachAndWriteNothing) {
  const Report page =
      one_section({{"fine", "Fine", "", image(kTinyPngUrl, 120, 120)},
                   {"no-such-mark",
                    "Broken",
                    "",
                    {{"data", {{"values", nlohmann::json::array({{{"a", 1}}})}}},
                     {"mark", "no-such-mark"},
                     {"encoding", {{"x", {{"field", "a"}, {"type", "quantitative"}}}}}}},
                   {"broken-png", "Broken image", "", image("data:image/png;base64,AAAA", 50, 50)},
                   {"remote-data",
                    "Remote data",
                    "",
                    {{"data", {{"url", "https://example.com/data.csv"}}},
                     {"mark", "point"},
                     {"encoding", {{"x", {{"field", "a"}, {"type", "quantitative"}}}}}}}});
  TemporaryFolder folder;
  const fs::path dir = folder.path() / "figures";

  try {
    const StaticFigures figures = write_static_figures(page, dir);
    if (!figures.skipped_reason.empty()) GTEST_SKIP() << figures.skipped_reason;
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("3 of 4 figures did not render"), std::string::npos) << message;
    EXPECT_NE(message.find("'no-such-mark'"), std::string::npos) << message;
    EXPECT_NE(message.find("'broken-png': Error: image did not load"), std::string::npos)
        << message;
    EXPECT_NE(message.find("'remote-data'"), std::string::npos) << message;
    EXPECT_EQ(message.find("'fine'"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST(StaticFigures, MissingOverrideIsAnErrorAndNothingOnPathIsASkip) {
  const Report page = one_section({{"latent", "Latent", "", image(kTinyPngUrl, 10, 10)}});
  TemporaryFolder folder;
  const fs::path dir = folder.path() / "figures";

  {
    const ScopedEnv chromium("SUBLENS_CHROMIUM", (folder.path() / "no-such-chromium").string());
    try {
      write_static_figures(page, dir);
      FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("SUBLENS_CHROMIUM=" + folder.path().string()),
                std::string::npos)
          << error.what();
    }
  }
  {
    const ScopedEnv chromium("SUBLENS_CHROMIUM", std::nullopt);
    const ScopedEnv path("PATH", folder.path().string());
    const StaticFigures figures = write_static_figures(page, dir);
    EXPECT_TRUE(figures.files.empty());
    EXPECT_NE(figures.skipped_reason.find("no Chromium found"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST(StaticFigures, ChromiumThatFailsIsAnErrorQuotingItsStderr) {
  const Report page = one_section({{"latent", "Latent", "", image(kTinyPngUrl, 10, 10)}});
  TemporaryFolder folder;
  const fs::path fake = folder.path() / "fake-chromium";
  std::ofstream(fake) << "#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n";
  fs::permissions(fake, fs::perms::owner_all);
  const ScopedEnv chromium("SUBLENS_CHROMIUM", fake.string());

  try {
    write_static_figures(page, folder.path() / "figures");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("exited with status 3"), std::string::npos) << message;
    EXPECT_NE(message.find("cannot open display"), std::string::npos) << message;
  }
}

TEST(StaticFigures, IdsMustBeFileNames) {
  const Report page = one_section({{"Bad/id", "Bad", "", image(kTinyPngUrl, 10, 10)}});
  TemporaryFolder folder;

  EXPECT_THROW(write_static_figures(page, folder.path()), std::invalid_argument);
}

TEST(StaticFigures, NoFiguresWritesNothing) {
  TemporaryFolder folder;

  const StaticFigures figures = write_static_figures(Report{"t", "s"}, folder.path() / "none");

  EXPECT_TRUE(figures.files.empty());
  EXPECT_TRUE(figures.skipped_reason.empty());
  EXPECT_FALSE(fs::exists(folder.path() / "none"));
}

}  // namespace
}  // namespace sublens::report
