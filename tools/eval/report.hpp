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
         "%) at threshold " + format("%.6g", s.eer.threshold) + "\n\n";
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
