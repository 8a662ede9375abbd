// unitsface-eval: the ROC (--roc) and DET (--det) plots, drawn from the at-most TAR on the log
// FAR grid (evaluation::grid).
//  - ROC: TAR against FAR, FAR on a log axis, TAR on a linear one (from the lowest tenth the
//    curve reaches, so a strong system's curve is not squeezed against the top).
//  - DET: FRR (= 1 - TAR) against FAR, both on log axes (not probit), with the FAR = FRR
//    diagonal and the EER point. An FRR of 0 is drawn on the bottom edge.
// Each curve is a staircase: the at-most TAR is constant between the ROC's operating points.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "evaluation.hpp"
#include "svg_plot.hpp"

namespace unitsface::eval {

namespace plot_detail {

inline std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f%%", 100 * v);
  return buf;
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// The grid points from `lo` on, as (FAR, value) steps: horizontal to the next FAR, then up.
template <class F>
std::vector<std::pair<double, double>> staircase(const evaluation& e, double lo, F value) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& r : e.grid) {
    if (r.target < lo * (1 - 1e-9)) continue;
    if (!pts.empty()) pts.emplace_back(r.target, pts.back().second);
    pts.emplace_back(r.target, value(r));
  }
  return pts;
}

}  // namespace plot_detail

inline std::string roc_svg(const evaluation& e, const std::string& title) {
  using namespace plot_detail;
  svg::plot p;
  p.title = title;
  p.x = {e.plot_lo, 1.0, true, "False accept rate (FAR)"};
  svg::line curve;
  curve.points = staircase(e, e.plot_lo, [](const auto& r) { return r.tar; });
  double min_tar = 1;
  for (const auto& [x, y] : curve.points) min_tar = std::min(min_tar, y);
  // The tenth below the lowest TAR, so that the curve never runs along the bottom edge.
  const double y_lo = std::max(0.0, std::floor(min_tar * 10 - 1e-9) / 10);
  p.y = {y_lo, 1.0, false, "True accept rate (TAR)"};
  p.lines.push_back(curve);
  // Each target's operating point: at the target for at_most (the staircase's value there) and
  // interpolated (a point on the line between two ROC points), at the achieved FAR for nearest
  // (a ROC point that may lie past the target).
  for (const auto& r : e.tar_at_far) {
    if (r.target < e.plot_lo * (1 - 1e-9)) continue;
    const double x = e.rule == metrics::far_rule::nearest ? r.far : r.target;
    p.markers.push_back({x, r.tar, "#c0392b"});
  }
  p.legend = {{"ROC (TAR at most the FAR)", curve.color, false},
              {std::string("TAR@FAR targets, rule ") + rule_name(e.rule), "#c0392b", true},
              {"AUC " + number(e.summary.auc) + ", EER " + percent(e.summary.eer.eer), "", false},
              {std::to_string(e.summary.genuine) + " genuine, " +
                   std::to_string(e.summary.impostor) + " impostor pairs",
               "", false}};
  p.legend_at = svg::plot::corner::bottom_right;  // a ROC on a log FAR axis is high there
  return svg::render(p);
}

inline std::string det_svg(const evaluation& e, const std::string& title) {
  using namespace plot_detail;
  svg::plot p;
  p.title = title;
  const double frr_lo = lowest_far(e.summary.genuine);
  p.x = {e.plot_lo, 1.0, true, "False accept rate (FAR)"};
  p.y = {frr_lo, 1.0, true, "False reject rate (FRR)"};
  svg::line diagonal;
  const double d0 = std::max(e.plot_lo, frr_lo);
  diagonal.points = {{d0, d0}, {1.0, 1.0}};
  diagonal.color = "#888888";
  diagonal.width = 1;
  diagonal.dash = "5,4";
  svg::line curve;
  curve.points = staircase(e, e.plot_lo, [](const auto& r) { return 1.0 - r.tar; });
  p.lines = {diagonal, curve};
  p.markers.push_back({e.summary.eer.eer, e.summary.eer.eer, "#c0392b"});
  p.legend = {
      {"DET (FRR = 1 - TAR at most the FAR)", curve.color, false},
      {"FAR = FRR", diagonal.color, false},
      {"EER " + percent(e.summary.eer.eer) + " at threshold " + number(e.summary.eer.threshold),
       "#c0392b", true}};
  p.legend_at = svg::plot::corner::bottom_left;  // a DET falls to the right
  return svg::render(p);
}

}  // namespace unitsface::eval
