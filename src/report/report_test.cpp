#include "sublens/report/report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace sublens::report {
namespace {

constexpr double kTol = 1e-12;

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

}  // namespace
}  // namespace sublens::report
