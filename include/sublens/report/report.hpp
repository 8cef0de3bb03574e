// The self-contained HTML report: one file with every script, style and datum inlined, so it opens
// offline. Figures are Vega-Lite specifications rendered in the browser by vega-embed (Vega 6,
// Vega-Lite 6, vega-embed 7, pinned in report/web/package-lock.json and compiled into the library;
// nothing is fetched at run time). Each figure's action menu saves it as PNG or SVG, and the link
// beside its title saves the numbers it shows as CSV.
//
//   report::Report page{"sublens analyze", "acts.npz, 1000 inputs"};
//   auto& section = page.sections.emplace_back(report::Section{"Modularity", "..."});
//   section.figures.push_back({"modularity", "Modularity vs layer", "",
//                              report::line_chart(rows, "layer_index", "modularity", "", {})});
//   io::write_file_atomically(dir / "report.html", report::render_html(page));
//
// When the page has rendered every figure, it sets `data-rendered="N/N"` on <body>, and
// `data-overflow` to "none" or the ids of the figures wider than the window; it writes
// "rendered N of N figures" into #sublens-status; console errors and uncaught exceptions are
// copied into #sublens-errors (both visible in `chromium --dump-dom`, which the browser test uses).
//
// The same figures as files, for papers and slides: `write_static_figures` renders every figure to
// <id>.svg and <id>.png with the very libraries and specs of the page, in headless Chromium:
//
//   const auto figures = report::write_static_figures(page, dir / "figures");
//   if (!figures.skipped_reason.empty()) log("no static figures: " + figures.skipped_reason);
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sublens::report {

// One interactive figure: a complete Vega-Lite specification (data inlined in `spec`).
struct Figure {
  std::string id;       // unique in the page, [a-z0-9-]; also the file name for saved images
  std::string title;    // shown above the figure
  std::string caption;  // one or two sentences under it (plain text)
  nlohmann::json spec;  // Vega-Lite spec ("$schema" is filled in when missing)
};

// A table of numbers. Cells are JSON values: numbers are printed with `digits` decimals.
struct Table {
  std::string title;
  std::vector<std::string> columns;
  std::vector<std::vector<nlohmann::json>> rows = {};
  int digits = 3;
};

// A claim of one of the papers checked against this run's numbers.
struct Finding {
  std::string claim;         // the paper's claim, e.g. "deeper layers have higher modularity"
  std::optional<bool> held;  // nullopt: inconclusive (too few layers, no logits, inside noise)
  std::string statistic;     // the number behind the verdict, e.g. "Spearman rho = 0.80 (4 layers)"
};

struct Section {
  std::string title;
  std::string text;  // plain text paragraph under the title
  std::vector<Figure> figures = {};
  std::vector<Table> tables = {};
};

// Headings are unique on the page: render_html merges sections of the same title into the first
// (texts as paragraphs, figures and tables appended in order), merges tables of the same title in
// one section when their columns agree (rows appended; other columns: std::invalid_argument), and
// lists a finding once however often it was added. "Findings" and "Files" are the page's own
// headings: a section of that title is refused (std::invalid_argument).
struct Report {
  std::string title;
  std::string subtitle;
  std::vector<Finding> findings = {};
  std::vector<Section> sections = {};
  std::vector<std::string> files =
      {};  // result files listed at the end (paths as the user sees them)
};

// The whole page as one HTML string (about 1.2 MB of it is the three libraries).
std::string render_html(const Report& report);

// Number of figures in the page (what `data-rendered` counts to).
int count_figures(const Report& report);

// ---- Static figures: every figure as SVG and PNG files.

struct StaticFigures {
  // The files written, two per figure in page order: DIR/<id>.svg, DIR/<id>.png.
  std::vector<std::filesystem::path> files;
  // Empty when the figures were written; otherwise why none were (no Chromium found on PATH).
  std::string skipped_reason;
};

// Renders every figure of `report` to DIR/<id>.svg and DIR/<id>.png (PNG at 2x scale, so a
// 360 x 240 chart is about 820 x 560 pixels) with the same Vega-Lite specs and the same compiled-in
// vega, vega-lite and vega-embed as `render_html`, by loading a generated page in headless Chromium
// and reading the results from its `--dump-dom` output. Creates DIR when missing; each file is
// written atomically (temporary file + rename), and nothing is written unless every figure
// rendered. Prints nothing on stdout; Chromium's own output is captured.
//
// Chromium: the environment variable SUBLENS_CHROMIUM (a path, or a name looked up on PATH) when
// set and non-empty, else the first of chromium, chromium-browser, google-chrome on PATH. The page
// is a file:// URL in a fresh temporary folder (with the browser profile; both removed afterwards)
// with everything inlined; a Content-Security-Policy and a host-resolver rule keep it off the
// network, so a spec that names a remote URL fails instead of fetching. Figures are rendered in
// batches of a few MB of spec per Chromium run (each run costs about 0.5 s of start-up); a run
// that takes longer than 120 s is killed.
//
// Returns the files written; or, when SUBLENS_CHROMIUM is unset and no Chromium is on PATH,
// writes nothing and returns the reason in `skipped_reason`. A report without figures writes
// nothing and returns no files and no reason.
// Throws std::invalid_argument when a figure id is not [a-z0-9-]+ or is used twice, or when
// SUBLENS_CHROMIUM names no executable file; std::runtime_error when Chromium fails, times out,
// or a figure does not render (the message names every failed figure id and vega's error).
//
//   report::Report page{"sublens analyze", "acts.npz"};
//   page.sections.push_back({"CKA", "", {{"ssc-cka", "SSC-CKA", "", report::heatmap(...)}}});
//   auto figures = report::write_static_figures(page, "out/figures");
//   // figures.files == {"out/figures/ssc-cka.svg", "out/figures/ssc-cka.png"}
StaticFigures write_static_figures(const Report& report, const std::filesystem::path& dir);

// ---- Vega-Lite specs for the figure kinds of both papers. `values` is an array of flat records.

// Lines of `y` against `x`, one per value of `color` (empty: a single line), points on the lines.
// `log_y`: semi-log axis (singular spectra).
nlohmann::json line_chart(const nlohmann::json& values, const std::string& x, const std::string& y,
                          const std::string& color, const std::string& x_title,
                          const std::string& y_title, bool log_y = false);

// Heatmap of a rows x cols matrix with names, on a fixed 0-1 viridis scale with its legend; the
// tooltip shows both names and the value, and up to 20 x 20 cells each cell shows its value (two
// decimals) unless the page's "values in cells" checkbox is cleared (static figures keep them).
nlohmann::json heatmap(const std::vector<std::string>& row_names,
                       const std::vector<std::string>& col_names,
                       const std::vector<std::vector<double>>& values,
                       const std::string& value_title, const std::string& row_title = "layer",
                       const std::string& col_title = "layer");

// Several specs as the panels of one figure (one PNG/SVG for a paper), each titled, wrapped into
// rows no wider than `max_width` CSS pixels (the page is about 1150 px wide), with colour scales
// shared across panels (equal colours mean equal values; say so in the caption) and one legend.
nlohmann::json panels(const std::vector<std::pair<std::string, nlohmann::json>>& specs,
                      int max_width = 1100);

// ---- One colour per layer across every figure of a network.

// The categorical palette of layers: Tableau 10, then the 10 lighter Tableau 20 hues (layer 11 on);
// beyond 20 layers the colours repeat. sublens.plot.LAYER_PALETTE is the same list.
const std::vector<std::string>& layer_palette();

// A Vega-Lite colour scale {"domain": layers, "range": the palette's first layers.size() colours}:
// put it as the "scale" of every colour encoding by layer of one network's figures and layer k has
// the same colour in all of them, whichever subset of layers a figure shows. `layers`: every layer
// of the network, in network order. Throws std::invalid_argument when a name is listed twice.
//
//   spec["encoding"]["color"]["scale"] = report::layer_color_scale(network_layers);
nlohmann::json layer_color_scale(const std::vector<std::string>& layers);

// `spec` with layer_color_scale(layers) set on every colour encoding of `field` (in layered,
// concatenated and faceted specs too); other encodings are left as they are.
//
//   auto chart = report::with_layer_colors(report::line_chart(rows, "epoch", "q", "layer", "", ""),
//                                          network_layers);
nlohmann::json with_layer_colors(nlohmann::json spec, const std::vector<std::string>& layers,
                                 const std::string& field = "layer");

// Scatter of records with fields x, y, label (class) and any others, coloured by label; the
// tooltip lists `tooltip_fields`. When records carry an `image` field (a data: URL), the tooltip
// shows the image too.
nlohmann::json scatter(const nlohmann::json& values, const std::vector<std::string>& tooltip_fields,
                       int size = 240);

// Horizontal bars of `value` per `category`, one small chart per value of `facet` (empty: one).
nlohmann::json bars(const nlohmann::json& values, const std::string& category,
                    const std::string& value, const std::string& facet,
                    const std::string& value_title);

// One image (a data: URL: "data:image/png;base64," + the base64 of `factor::encode_png` bytes)
// shown at `width` x `height` CSS pixels with its top-left corner at the origin, aspect ratio kept
// and no smoothing (small latent images and PNG heatmaps stay crisp when scaled up). The page never
// fetches anything, so only data: URLs are accepted. In SVG exports the image stays the data URL.
// Throws std::invalid_argument when `data_url` is not a data: URL or a size is < 1.
//
//   section.figures.push_back({"latent-3", "Latent 3", "", report::image(png_url, 280, 280)});
nlohmann::json image(const std::string& data_url, int width, int height);

// Spearman rank correlation (ties get average ranks) over the pairs where both values are finite;
// NaN when fewer than 2 such pairs remain or a sequence is constant.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace sublens::report
