// unitsface: a finite-difference gradient checker for any scalar function of a vector.
//
//   auto r = unitsface::gradcheck(f, x, analytic);   // f: double(std::span<const double>)
//   if (!r.passed) std::cerr << r.message();
//
// Central differences in double precision, with a step relative to each coordinate:
// h_k = rel_step * max(|x_k|, 1). The default rel_step, cbrt(machine epsilon) ~ 6e-6,
// balances the O(h^2) truncation error of the central difference against the O(eps / h)
// rounding error of the two evaluations. A function that computes in float (a float loss
// behind a double interface) rounds at float's epsilon, 5e8 times double's: check it with
// gradcheck_options::for_precision<float>(), whose step and tolerance are float's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"

namespace unitsface {

struct gradcheck_options {
  double rel_step = std::cbrt(std::numeric_limits<double>::epsilon());
  /// Passed when the worst relative error is below this.
  double tolerance = 1e-6;
  /// The relative error of an element is |analytic - numeric| / max(max_k |numeric_k|,
  /// scale_floor): relative to the largest gradient element, so that elements that are zero
  /// (or nearly) are judged on the scale of the whole gradient, not on their own.
  double scale_floor = 1e-12;
  /// x as a row-major matrix of `cols` columns (0: a flat vector): the result then names
  /// the worst element by row and column as well.
  index_t cols = 0;

  /// The options for a function whose value is computed in precision T. The step is
  /// cbrt(eps_T) (6.1e-6 for double, 4.9e-3 for float), where the central difference's
  /// truncation error (h^2) meets the rounding of the two values (eps_T / h): the difference
  /// quotient then carries a relative error of about eps_T^(2/3), 3.7e-11 for double and
  /// 2.4e-5 for float, times |f| / |grad f|. The tolerance leaves room for that ratio: 1e-6
  /// for double (the default options), 1e-2 for float — a wrong gradient (a missing factor,
  /// a wrong sign, a dropped term) is off by far more.
  template <class T>
  static gradcheck_options for_precision() {
    static_assert(std::is_floating_point_v<T>, "for_precision: a floating-point type");
    gradcheck_options o;
    o.rel_step = std::cbrt(double(std::numeric_limits<T>::epsilon()));
    o.tolerance =
        std::numeric_limits<T>::epsilon() >= std::numeric_limits<float>::epsilon() ? 1e-2 : 1e-6;
    return o;
  }
};

struct gradcheck_result {
  bool passed = false;
  index_t worst_index = -1;  ///< the element with the largest absolute error
  index_t worst_row = -1;    ///< its row and column (options::cols > 0), else -1
  index_t worst_col = -1;
  double analytic = 0.0;       ///< its analytic value
  double numeric = 0.0;        ///< its finite-difference value
  double max_abs_error = 0.0;  ///< |analytic - numeric| there
  double max_rel_error = 0.0;  ///< max_abs_error / the gradient's scale
  double scale = 0.0;          ///< max_k |numeric_k| (floored)
  std::vector<double> numeric_gradient;

  std::string message() const {
    std::ostringstream os;
    os.precision(6);
    os << (passed ? "gradcheck passed" : "gradcheck FAILED") << ": worst element " << worst_index;
    if (worst_row >= 0) os << " (row " << worst_row << ", column " << worst_col << ")";
    os << " analytic " << analytic << " numeric " << numeric << " abs error " << max_abs_error
       << " rel error " << max_rel_error << " (scale " << scale << ")";
    return os.str();
  }
};

/// The central-difference gradient of f at x.
template <class F>
std::vector<double> numeric_gradient(F&& f, std::vector<double> x,
                                     const gradcheck_options& o = {}) {
  detail::require(!x.empty(), "x", "is empty");
  detail::require(o.rel_step > 0.0 && std::isfinite(o.rel_step), "rel_step", "must be > 0");
  std::vector<double> g(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double x0 = x[k];
    const double h = o.rel_step * std::max(std::fabs(x0), 1.0);
    x[k] = x0 + h;
    const double fp = f(std::span<const double>(x));
    x[k] = x0 - h;
    const double fm = f(std::span<const double>(x));
    x[k] = x0;
    g[k] = (fp - fm) / (2.0 * h);
  }
  return g;
}

/// Compares `analytic` (d f / d x at x) with central finite differences of f.
/// f takes std::span<const double> and returns double; it may be the caller's own function.
template <class F>
gradcheck_result gradcheck(F&& f, const std::vector<double>& x, const std::vector<double>& analytic,
                           const gradcheck_options& o = {}) {
  detail::require_size("analytic", static_cast<index_t>(analytic.size()),
                       static_cast<index_t>(x.size()));
  detail::require(o.cols >= 0, "cols", "must be >= 0 (0: a flat vector)");
  detail::require(o.cols == 0 || x.size() % static_cast<std::size_t>(o.cols) == 0, "cols",
                  "must divide the size of x (" + std::to_string(x.size()) + ")");
  for (double v : x) detail::require_finite_scalar("x", v);
  for (double v : analytic) detail::require_finite_scalar("analytic", v);
  gradcheck_result r;
  r.numeric_gradient = numeric_gradient(f, x, o);
  double scale = o.scale_floor;
  for (double v : r.numeric_gradient) scale = std::max(scale, std::fabs(v));
  r.scale = scale;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double err = std::fabs(analytic[k] - r.numeric_gradient[k]);
    if (r.worst_index < 0 || err > r.max_abs_error || std::isnan(err)) {
      r.max_abs_error = err;
      r.worst_index = static_cast<index_t>(k);
      r.analytic = analytic[k];
      r.numeric = r.numeric_gradient[k];
      if (std::isnan(err)) break;  // a non-finite numeric gradient is the worst there is
    }
  }
  if (o.cols > 0 && r.worst_index >= 0) {
    r.worst_row = r.worst_index / o.cols;
    r.worst_col = r.worst_index % o.cols;
  }
  r.max_rel_error = r.max_abs_error / scale;
  r.passed = r.max_rel_error < o.tolerance;  // false for NaN
  return r;
}

}  // namespace unitsface
