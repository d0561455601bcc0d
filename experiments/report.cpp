#include "experiments/report.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/log.h"
#include "experiments/curve_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace strata::experiments {

namespace {

std::string text_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

double first_number(const json& row, const std::string& column) {
  const std::string cell = row.value(column, "");
  if (cell.empty()) return NAN;
  try {
    return std::stod(cell);
  } catch (const std::exception&) {
    return NAN;
  }
}

// The first row whose stage starts with `prefix` ("3", "4", "5 (0-shot)").
const json* row_of(const json& table, const std::string& prefix) {
  for (const auto& row : table) {
    const std::string stage = row.value("stage", "");
    if (stage.rfind(prefix, 0) == 0 && !std::isnan(first_number(row, "acc, all labels"))) return &row;
  }
  return nullptr;
}

// One sentence per claim of the notes, from the table's numbers.
std::string claims(const json& ladder) {
  const json& table = ladder["table"];
  std::string out;
  // Hand work: hand-written lines by stage.
  std::string lines;
  for (const auto& row : table) {
    if (std::isnan(first_number(row, "acc, all labels"))) continue;
    lines += (lines.empty() ? "" : ", ") +
             fmt::format("stage {} {}", row.value("stage", ""), row.value("hand-written lines", ""));
  }
  out += fmt::format("- **Hand work falls stage by stage.** Hand-written lines: {}.\n", lines);
  const json* s3 = row_of(table, "3");
  const json* s4 = row_of(table, "4");
  if (s3 && s4) {
    const double a3 = first_number(*s3, "acc, limited labels"), a4 = first_number(*s4, "acc, limited labels");
    auto labels = [](const json& row) {  // the limited column's labelled examples
      const std::string cell = row.value("labelled examples", "");
      return cell.substr(0, cell.find(';'));
    };
    out += fmt::format(
        "- **Pre-training needs fewer labels.** With {} labels per class, stage 4 (pre-trained) "
        "scores {:.4f} with {} labelled examples in all (pre-training's counted), stage 3 (from "
        "scratch) {:.4f} with {}: {}.\n",
        ladder.value("labels_per_class", 0), a4, labels(*s4), a3, labels(*s3),
        a4 > a3 ? fmt::format("{:+.1f} points for pre-training", 100 * (a4 - a3))
                : fmt::format("{:+.1f} points; the claim does not hold here", 100 * (a4 - a3)));
  }
  const json* s5 = row_of(table, "5");
  if (s5) {
    double best_trained = 0;
    for (const auto& row : table) {
      const std::string stage = row.value("stage", "");
      if (!stage.empty() && stage[0] != '5' && stage[0] != '1') {
        best_trained = std::max(best_trained, first_number(row, "acc, all labels"));
      }
    }
    out += fmt::format(
        "- **A big model needs no labels.** Prompted ({}), the pre-trained model scores {:.4f}, "
        "against {:.4f} for the best stage trained on every label.\n",
        s5->value("stage", ""), first_number(*s5, "acc, all labels"), best_trained);
  }
  return out;
}

// A part's table and plot, when RUN_DIR (or a folder under it) holds one.
std::string part(const fs::path& dir, const fs::path& root, const std::string& name,
                 const std::string& title) {
  if (!fs::exists(dir / (name + ".json"))) return "";
  const std::string rel = fs::relative(dir, root).string();
  std::string out = fmt::format("## {}{}\n\n", title, rel == "." ? "" : " (" + rel + ")");
  if (fs::exists(dir / (name + ".md"))) out += text_of(dir / (name + ".md")) + "\n";
  const fs::path png = dir / (name + ".png");
  if (fs::exists(png)) {
    out += fmt::format("![{}]({})\n\n", title, fs::relative(png, root).string());
  } else {
    out += fmt::format("No plot: {} was not made (plot: false, or no matplotlib).\n\n",
                       fs::relative(png, root).string());
  }
  return out;
}

}  // namespace

std::string report(const std::string& run_dir) {
  const fs::path root(run_dir);
  if (!fs::is_directory(root)) {
    throw InputError(fmt::format("report: '{}' is not a directory", run_dir));
  }
  std::string md = fmt::format("# Strata report: {}\n\n", run_dir);
  bool found = false;
  if (fs::exists(root / "ladder.json")) {
    found = true;
    const json ladder = read_json_file((root / "ladder.json").string());
    md += "## The ladder\n\n" + ladder.value("markdown", "") + "\n";
    md += "### The design notes' claims, measured\n\n" + claims(ladder) + "\n";
    const std::string png = (root / "ladder_accuracy.png").string();
    if (run_plot_script(run_dir + "/ladder.json", "plot_ladder.py",
                        {(root / "ladder.csv").string(), png}, "report") && fs::exists(png)) {
      md += "![accuracy against labelled examples](ladder_accuracy.png)\n\n";
    } else {
      md += "No plot: ladder_accuracy.png could not be made (matplotlib: scripts/bootstrap.sh).\n\n";
    }
  }
  std::vector<fs::path> dirs = {root};
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  std::sort(dirs.begin() + 1, dirs.end());
  for (const auto& dir : dirs) {
    for (const auto& [name, title] : std::vector<std::pair<std::string, std::string>>{
             {"datasize", "Accuracy against data size"},
             {"finetune_curve", "Fine-tuning curve"},
             {"sweep", "In-context accuracy against model size"}}) {
      const std::string section = part(dir, root, name, title);
      found = found || !section.empty();
      md += section;
    }
  }
  if (!found) {
    throw InputError(fmt::format(
        "report: '{}' holds no ladder, datasize, finetune-curve or sweep run (no ladder.json, "
        "datasize.json, finetune_curve.json or sweep.json)",
        run_dir));
  }
  const std::string out = (root / "report.md").string();
  write_file_atomic(out, md);
  log::info("report: wrote {}", out);
  return out;
}

}  // namespace strata::experiments
