// unitsface-eval: the metrics table printed on stdout and the JSON report (--json).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "evaluation.hpp"

namespace unitsface::eval {

namespace report_detail {

inline std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

/// JSON has no infinity: the +inf threshold (no score accepted) is written null.
inline nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace report_detail

inline std::string text_report(const evaluation& e) {
  using report_detail::format;
  const auto& s = e.summary;
  std::string out;
  out += "input      " + e.input + "\n";
  out += "pairs      " + std::to_string(s.genuine + s.impostor) + " (" + std::to_string(s.genuine) +
         " genuine, " + std::to_string(s.impostor) + " impostor)\n";
  out += "AUC        " + format("%.6f", s.auc) + "\n";
  out += "EER        " + format("%.6f", s.eer.eer) + " (" + format("%.3f", 100 * s.eer.eer) +
         "%) at threshold " + format("%.6g", s.eer.threshold) + "\n";
  if (e.has_kfold) {
    out += "k-fold     " + format("%.6f", e.kfold.accuracy_mean) + " +- " +
           format("%.6f", e.kfold.accuracy_std) + " (" + std::to_string(e.kfold_options.folds) +
           " folds in input order, " + kfold_mode_name(e.kfold_options.mode) + " thresholds)\n";
  } else {
    out += "k-fold     " + e.kfold_note + "\n";
  }
  if (e.has_identification) {
    const auto& id = e.identification;
    if (id.mated == 0) {
      out += "rank-k     no identity has two images: identification needs a mate\n";
    } else {
      for (std::size_t k : {std::size_t(1), std::size_t(5)}) {
        if (k > id.cmc.size()) break;
        out += "rank-" + std::to_string(k) + "     " + format("%.6f", id.cmc[k - 1]) +
               " (leave-one-out, " + std::to_string(id.mated) + " mated probes of " +
               std::to_string(id.probes) + " images)\n";
      }
    }
  }
  out += "\n";
  out += std::string("TAR at FAR, rule ") + rule_name(e.rule) + "\n";
  out += "  FAR target        TAR  achieved FAR     threshold\n";
  bool below = false;
  const double resolution = 1.0 / double(s.impostor);
  for (const auto& r : e.tar_at_far) {
    const bool unresolved = r.target < resolution;
    below |= unresolved;
    char line[128];
    std::snprintf(line, sizeof line, "  %10.0e  %9.6f  %12.4e  %12.6g%s\n", r.target, r.tar, r.far,
                  r.threshold, unresolved ? "  *" : "");
    out += line;
  }
  if (below) {
    out += "  * below 1/" + std::to_string(s.impostor) +
           " (one impostor): more impostor pairs are needed to measure this FAR\n";
  }
  return out;
}

inline nlohmann::json json_report(const evaluation& e) {
  using report_detail::number;
  const auto& s = e.summary;
  nlohmann::json j;
  j["input"] = e.input;
  j["n_genuine"] = s.genuine;
  j["n_impostor"] = s.impostor;
  j["auc"] = s.auc;
  j["partial_auc"] = {{"max_far", s.partial_auc.max_far},
                      {"raw", s.partial_auc.raw},
                      {"mcclish", s.partial_auc.mcclish}};
  j["eer"] = s.eer.eer;
  j["eer_threshold"] = number(s.eer.threshold);
  j["rule"] = rule_name(e.rule);
  if (e.has_kfold) {
    j["kfold"] = {
        {"folds", e.kfold_options.folds},         {"mode", kfold_mode_name(e.kfold_options.mode)},
        {"accuracy_mean", e.kfold.accuracy_mean}, {"accuracy_std", e.kfold.accuracy_std},
        {"fold_accuracy", e.kfold.fold_accuracy}, {"fold_threshold", nlohmann::json::array()}};
    for (double t : e.kfold.fold_threshold) j["kfold"]["fold_threshold"].push_back(number(t));
  } else {
    j["kfold"] = nullptr;
    j["kfold_note"] = e.kfold_note;
  }
  if (e.embeddings > 0) j["embeddings"] = {{"rows", e.embeddings}, {"dimensions", e.dimensions}};
  if (e.has_identification) {
    const auto& id = e.identification;
    j["identification"] = {{"protocol", "leave_one_out"},
                           {"probes", id.probes},
                           {"mated_probes", id.mated},
                           {"cmc", id.cmc}};
    for (std::size_t k : {std::size_t(1), std::size_t(5)}) {
      j["identification"]["rank_" + std::to_string(k)] =
          k <= id.cmc.size() ? nlohmann::json(id.cmc[k - 1]) : nlohmann::json(nullptr);
    }
  }
  j["tar_at_far"] = nlohmann::json::array();
  for (const auto& r : e.tar_at_far) {
    j["tar_at_far"].push_back({{"far_target", r.target},
                               {"tar", r.tar},
                               {"far", r.far},
                               {"threshold", number(r.threshold)}});
  }
  j["roc_log_far"] = {{"rule", "at_most"}, {"points_per_decade", grid_per_decade}};
  auto& pts = j["roc_log_far"]["points"] = nlohmann::json::array();
  for (const auto& r : e.grid) {
    pts.push_back({{"far_target", r.target},
                   {"tar", r.tar},
                   {"far", r.far},
                   {"threshold", number(r.threshold)}});
  }
  return j;
}

}  // namespace unitsface::eval
