// unitsface: target-logit margins of the sample-to-class softmax heads.
//
// A margin maps the target cosine c = cos(theta) to the target logit / s, and gives the
// derivative the backward pass uses. Each is a small struct callable from device code.
#pragma once

#include <cmath>
#include <numbers>

#include "unitsface/core/config.hpp"

namespace unitsface::losses {

/// CosFace / normalised softmax: c - m (m = 0: plain normalised softmax).
template <class T>
struct cosface_margin {
  T m = T(0.4);  // official UniTSFace head.py default (0.35 in the CosFace paper)
  UNITSFACE_HD T value(T c) const { return c - m; }
  UNITSFACE_HD T derivative(T) const { return T(1); }
};

/// What ArcFace does where theta + m > pi, i.e. c <= cos(pi - m), where cos(theta + m)
/// stops decreasing in theta.
enum class arcface_policy {
  none,              ///< cos(theta + m) everywhere (insightface arcface_torch)
  easy_margin,       ///< the margin only where c > 0, c itself elsewhere
  classic_fallback,  ///< c - m sin(pi - m) where c <= cos(pi - m) (insightface's ArcMarginProduct)
};

/// The gradient ArcFace back-propagates through the target logit.
enum class arcface_gradient {
  exact,             ///< d cos(theta + m) / d cos(theta) (default)
  straight_through,  ///< 1: the margin is added under no_grad (insightface arcface_torch)
};

/// ArcFace: cos(theta + m), computed as c cos m - sqrt(1 - c^2) sin m.
template <class T>
struct arcface_margin {
  T m = T(0.5);  // insightface default
  arcface_policy policy = arcface_policy::classic_fallback;
  arcface_gradient gradient = arcface_gradient::exact;
  T cos_m = T(0), sin_m = T(0), th = T(0), mm = T(0);

  arcface_margin() { init(); }
  arcface_margin(T m_, arcface_policy p, arcface_gradient g) : m(m_), policy(p), gradient(g) {
    init();
  }
  void init() {
    cos_m = std::cos(m);
    sin_m = std::sin(m);
    th = std::cos(std::numbers::pi_v<T> - m);
    mm = std::sin(std::numbers::pi_v<T> - m) * m;
  }
  // Which branch c falls in: 0 = cos(theta + m), 1 = the policy's replacement.
  UNITSFACE_HD int branch(T c) const {
    if (policy == arcface_policy::easy_margin) return c > T(0) ? 0 : 1;
    if (policy == arcface_policy::classic_fallback) return c > th ? 0 : 1;
    return 0;
  }
  UNITSFACE_HD T value(T c) const {
    using std::sqrt;
    const T sine = sqrt(c * c < T(1) ? T(1) - c * c : T(0));
    if (branch(c) == 0) return c * cos_m - sine * sin_m;
    return policy == arcface_policy::easy_margin ? c : c - mm;
  }
  UNITSFACE_HD T derivative(T c) const {
    using std::sqrt;
    if (gradient == arcface_gradient::straight_through || branch(c) != 0) return T(1);
    // d/dc [c cos m - sqrt(1 - c^2) sin m] = cos m + c sin m / sqrt(1 - c^2); it is infinite
    // at |c| = 1 (theta = 0 or pi), as the exact function's is: the floor keeps it finite.
    const T one_minus = T(1) - c * c;
    const T sine = sqrt(one_minus > T(1e-12) ? one_minus : T(1e-12));
    return cos_m + c * sin_m / sine;
  }
};

/// The combined margin cos(m1 theta + m2) - m3 (insightface CombinedMarginLoss): m1 > 1 gives
/// SphereFace-style, m2 ArcFace, m3 CosFace margins. Exact gradient, no fallback.
template <class T>
struct combined_margin {
  T m1 = T(1);
  T m2 = T(0.5);
  T m3 = T(0);
  UNITSFACE_HD T value(T c) const {
    using std::acos;
    using std::cos;
    const T cc = c > T(1) ? T(1) : (c < T(-1) ? T(-1) : c);
    return cos(m1 * acos(cc) + m2) - m3;
  }
  UNITSFACE_HD T derivative(T c) const {
    using std::acos;
    using std::sin;
    using std::sqrt;
    const T cc = c > T(1) ? T(1) : (c < T(-1) ? T(-1) : c);
    // d/dc cos(m1 acos c + m2) = m1 sin(m1 theta + m2) / sin(theta); floored as in ArcFace.
    const T one_minus = T(1) - cc * cc;
    const T sine = sqrt(one_minus > T(1e-12) ? one_minus : T(1e-12));
    return m1 * sin(m1 * acos(cc) + m2) / sine;
  }
};

}  // namespace unitsface::losses
