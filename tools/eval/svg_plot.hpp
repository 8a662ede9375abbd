// unitsface-eval: a minimal standalone SVG line plot: linear or log axes with ticks, tick
// labels and grid lines, a title, axis labels, polylines, point markers and a legend. Values
// outside an axis (a zero on a log axis) are drawn at its edge, and the curves are clipped to
// the plot area.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace unitsface::eval::svg {

struct axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::string label;
};

struct line {
  std::vector<std::pair<double, double>> points;  ///< data coordinates
  std::string color = "#1f5fbf";
  double width = 2;
  std::string dash;  ///< stroke-dasharray, empty for solid
  std::string legend;
};

struct marker {
  double x = 0, y = 0;
  std::string color = "#c0392b";
};

struct legend_entry {
  std::string text;
  std::string color;  ///< a coloured swatch; empty for a plain text line
  bool dot = false;   ///< a dot swatch (markers) instead of a line
};

struct plot {
  std::string title;
  axis x, y;
  std::vector<line> lines;
  std::vector<marker> markers;
  std::vector<legend_entry> legend;
  enum class corner { top_left, bottom_left, bottom_right };
  corner legend_at = corner::bottom_right;  ///< put it where the curve is not
};

inline std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    }
  }
  return out;
}

namespace detail {

inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

/// Position of `v` on the axis as a fraction of its length, clamped to [0, 1].
inline double fraction(const axis& a, double v) {
  double f;
  if (a.log) {
    f = v > 0 ? (std::log10(v) - std::log10(a.lo)) / (std::log10(a.hi) - std::log10(a.lo)) : 0;
  } else {
    f = (v - a.lo) / (a.hi - a.lo);
  }
  return std::clamp(std::isnan(f) ? 0.0 : f, 0.0, 1.0);
}

struct tick {
  double value;
  bool major;
  std::string label;  ///< SVG text content (may hold a tspan)
};

/// Log axis: a major tick per decade labelled 10^k (1 for 10^0), minor ticks at 2..9.
/// Linear axis: ticks every 0.1, 0.05, 0.02 or 0.01, as the range allows.
inline std::vector<tick> ticks(const axis& a) {
  std::vector<tick> t;
  if (a.log) {
    const int k0 = int(std::floor(std::log10(a.lo) + 1e-9));
    const int k1 = int(std::ceil(std::log10(a.hi) - 1e-9));
    for (int k = k0; k <= k1; ++k) {
      const double d = std::pow(10.0, k);
      if (d >= a.lo * (1 - 1e-9) && d <= a.hi * (1 + 1e-9)) {
        const std::string label = k == 0 ? "1"
                                         : "10<tspan dy=\"-7\" font-size=\"10\">" +
                                               std::string(k < 0 ? "\u2212" : "") +
                                               std::to_string(std::abs(k)) + "</tspan>";
        t.push_back({d, true, label});
      }
      for (int m = 2; m <= 9; ++m) {
        const double v = m * d;
        if (v > a.lo && v < a.hi) t.push_back({v, false, ""});
      }
    }
  } else {
    const double range = a.hi - a.lo;
    const double step = range >= 0.5 ? 0.1 : range >= 0.2 ? 0.05 : range >= 0.1 ? 0.02 : 0.01;
    for (long i = std::lround(std::ceil(a.lo / step - 1e-9));; ++i) {
      const double v = double(i) * step;
      if (v > a.hi + 1e-9) break;
      char buf[16];
      std::snprintf(buf, sizeof buf, "%g", std::abs(v) < 1e-12 ? 0.0 : v);
      t.push_back({v, true, buf});
    }
  }
  return t;
}

}  // namespace detail

inline std::string render(const plot& p) {
  using detail::num;
  constexpr double W = 640, H = 480, left = 78, right = 24, top = 44, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  auto X = [&](double v) { return left + detail::fraction(p.x, v) * pw; };
  auto Y = [&](double v) { return top + ph - detail::fraction(p.y, v) * ph; };
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"480\" "
       "viewBox=\"0 0 640 480\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
       "font-size=\"12\">\n";
  s += "<rect width=\"640\" height=\"480\" fill=\"white\"/>\n";
  s += "<defs><clipPath id=\"area\"><rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" +
       num(pw) + "\" height=\"" + num(ph) + "\"/></clipPath></defs>\n";
  s += "<text x=\"" + num(left + pw / 2) +
       "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\" "
       "font-weight=\"bold\">" +
       escape(p.title) + "</text>\n";
  // Grid lines and ticks.
  for (const auto& t : detail::ticks(p.x)) {
    const double x = X(t.value);
    s += "<line x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" +
         num(top + ph) + "\" stroke=\"" + (t.major ? "#d0d0d0" : "#ececec") + "\"/>\n";
    s += "<line x1=\"" + num(x) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(x) + "\" y2=\"" +
         num(top + ph + (t.major ? 6 : 3)) + "\" stroke=\"black\"/>\n";
    if (!t.label.empty()) {
      s += "<text x=\"" + num(x) + "\" y=\"" + num(top + ph + 22) + "\" text-anchor=\"middle\">" +
           t.label + "</text>\n";
    }
  }
  for (const auto& t : detail::ticks(p.y)) {
    const double y = Y(t.value);
    s += "<line x1=\"" + num(left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left + pw) +
         "\" y2=\"" + num(y) + "\" stroke=\"" + (t.major ? "#d0d0d0" : "#ececec") + "\"/>\n";
    s += "<line x1=\"" + num(left - (t.major ? 6 : 3)) + "\" y1=\"" + num(y) + "\" x2=\"" +
         num(left) + "\" y2=\"" + num(y) + "\" stroke=\"black\"/>\n";
    if (!t.label.empty()) {
      s += "<text x=\"" + num(left - 9) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
           t.label + "</text>\n";
    }
  }
  s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" +
       num(ph) + "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(H - 14) +
       "\" text-anchor=\"middle\" font-size=\"13\">" + escape(p.x.label) + "</text>\n";
  s += "<text transform=\"translate(20 " + num(top + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">" + escape(p.y.label) + "</text>\n";
  // Curves and markers, clipped to the plot area.
  s += "<g clip-path=\"url(#area)\">\n";
  for (const auto& l : p.lines) {
    s += "<polyline fill=\"none\" stroke=\"" + l.color + "\" stroke-width=\"" + num(l.width) +
         "\" stroke-linejoin=\"round\"" +
         (l.dash.empty() ? std::string() : " stroke-dasharray=\"" + l.dash + "\"") + " points=\"";
    for (const auto& [x, y] : l.points) s += num(X(x)) + "," + num(Y(y)) + " ";
    s += "\"/>\n";
  }
  s += "</g>\n";
  // Markers unclipped: one on the plot's edge stays whole.
  for (const auto& m : p.markers) {
    s += "<circle cx=\"" + num(X(m.x)) + "\" cy=\"" + num(Y(m.y)) + "\" r=\"4\" fill=\"" + m.color +
         "\" stroke=\"white\"/>\n";
  }
  // Legend.
  if (!p.legend.empty()) {
    // Width from the longest entry, at about 7 px per character of the 12 px font.
    std::size_t longest = 0;
    for (const auto& e : p.legend) longest = std::max(longest, e.text.size());
    const double lh = 17, lw = std::min(pw - 20, 44 + 7.0 * double(longest));
    const double lx = p.legend_at == plot::corner::bottom_right ? left + pw - lw - 10 : left + 10;
    const double ly = p.legend_at == plot::corner::top_left
                          ? top + 10
                          : top + ph - 10 - lh * double(p.legend.size()) - 8;
    s += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" width=\"" + num(lw) + "\" height=\"" +
         num(lh * double(p.legend.size()) + 8) +
         "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n";
    for (std::size_t i = 0; i < p.legend.size(); ++i) {
      const auto& e = p.legend[i];
      const double y = ly + 4 + lh * (double(i) + 0.5);
      if (!e.color.empty() && e.dot) {
        s += "<circle cx=\"" + num(lx + 18) + "\" cy=\"" + num(y) + "\" r=\"4\" fill=\"" + e.color +
             "\"/>\n";
      } else if (!e.color.empty()) {
        s += "<line x1=\"" + num(lx + 8) + "\" y1=\"" + num(y) + "\" x2=\"" + num(lx + 28) +
             "\" y2=\"" + num(y) + "\" stroke=\"" + e.color + "\" stroke-width=\"2\"/>\n";
      }
      s += "<text x=\"" + num(lx + 36) + "\" y=\"" + num(y + 4) + "\">" + escape(e.text) +
           "</text>\n";
    }
  }
  s += "</svg>\n";
  return s;
}

}  // namespace unitsface::eval::svg
