// unitsface: the softmax sample-to-class heads: normalised softmax / CosFace, ArcFace, and
// the combined margin, one class template over the target-logit margin.
#pragma once

#include <cstdint>
#include <numbers>
#include <string>

#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/losses/detail/run.hpp"
#include "unitsface/losses/kernels/softmax.hpp"
#include "unitsface/losses/margins.hpp"
#include "unitsface/losses/pairwise_loss.hpp"

namespace unitsface::losses {

template <class T, class Margin>
struct softmax_options : evaluation_options {
  T s = T(64);  ///< scale; official and insightface default 64
  Margin margin{};
};

/// Cross-entropy over s cos(theta_ij), the target logit replaced by s margin(cos theta_iy).
/// The references are normally the learnable class weights (references::weights); the
/// gradient with respect to them goes to gradients::weight.
template <class T, class Margin>
class softmax_head : public pairwise_loss<softmax_head<T, Margin>, T> {
 public:
  using options = softmax_options<T, Margin>;

  explicit softmax_head(const options& o = options{}) : opt_(o) { check(); }

  const options& opts() const { return opt_; }

 private:
  friend class pairwise_loss<softmax_head, T>;
  void check() const;
  /// What every rank of a class-sharded call must agree on.
  std::uint64_t parameters() const;

  template <class Policy>
  loss_result<T> evaluate(const Policy& pol, const detail::call<T>& c) const {
    detail::validate_call(pol, c, opt_, true, 0, parameters(), [&] {
      detail::require(c.refs.kind != reference_kind::in_batch, "references",
                      "a softmax head needs one reference per class (weights or memory)");
    });
    auto drv = detail::make_driver(pol, c, opt_, true, true);
    kernels::softmax<T, Margin> k{opt_.s, opt_.margin};
    return detail::run(drv, pol, c, opt_, k, {}, false, opt_.s);
  }

  options opt_;
};

namespace detail {
template <class T>
std::uint64_t fingerprint_margin(std::uint64_t h, const cosface_margin<T>& mg) {
  return fingerprint_value(h, mg.m);
}
template <class T>
std::uint64_t fingerprint_margin(std::uint64_t h, const arcface_margin<T>& mg) {
  h = fingerprint_value(h, mg.m);
  h = fingerprint_value(h, int(mg.policy));
  return fingerprint_value(h, int(mg.gradient));
}
template <class T>
std::uint64_t fingerprint_margin(std::uint64_t h, const combined_margin<T>& mg) {
  return fingerprint_value(fingerprint_value(fingerprint_value(h, mg.m1), mg.m2), mg.m3);
}

template <class T>
void check_margin(const cosface_margin<T>& mg) {
  require_finite_scalar("m", mg.m);
  require(mg.m >= T(0) && mg.m < T(1), "m", "must lie in [0, 1), got " + std::to_string(mg.m));
}
template <class T>
void check_margin(const arcface_margin<T>& mg) {
  require_finite_scalar("m", mg.m);
  require(mg.m >= T(0) && mg.m < std::numbers::pi_v<T>, "m",
          "must lie in [0, pi), got " + std::to_string(mg.m));
}
template <class T>
void check_margin(const combined_margin<T>& mg) {
  require_finite_scalar("m1", mg.m1);
  require_finite_scalar("m2", mg.m2);
  require_finite_scalar("m3", mg.m3);
  require(mg.m1 > T(0), "m1", "must be > 0, got " + std::to_string(mg.m1));
  require(mg.m2 >= T(0) && mg.m2 < std::numbers::pi_v<T>, "m2",
          "must lie in [0, pi), got " + std::to_string(mg.m2));
  require(mg.m3 >= T(0) && mg.m3 < T(1), "m3", "must lie in [0, 1), got " + std::to_string(mg.m3));
}
}  // namespace detail

template <class T, class Margin>
std::uint64_t softmax_head<T, Margin>::parameters() const {
  std::uint64_t h = detail::fingerprint_value(0x736f66746d6178ULL, opt_.s);
  h = detail::fingerprint_value(h, int(opt_.reduce));
  return detail::fingerprint_margin(h, opt_.margin);
}

template <class T, class Margin>
void softmax_head<T, Margin>::check() const {
  detail::require_positive("s", opt_.s);
  detail::check_margin(opt_.margin);
}

/// Normalised softmax with an additive cosine margin (CosFace; m = 0: normalised softmax).
/// Official UniTSFace `Normalized_Softmax_Loss`: s = 64, m = 0.4.
template <class T>
using cosface_loss = softmax_head<T, cosface_margin<T>>;

/// ArcFace (insightface): s = 64, m = 0.5; classic fallback and exact gradient by default.
template <class T>
using arcface_loss = softmax_head<T, arcface_margin<T>>;

/// The combined margin cos(m1 theta + m2) - m3.
template <class T>
using combined_margin_loss = softmax_head<T, combined_margin<T>>;

template <class T>
softmax_options<T, cosface_margin<T>> cosface_options(T m = T(0.4), T s = T(64)) {
  softmax_options<T, cosface_margin<T>> o;
  o.s = s;
  o.margin.m = m;
  return o;
}

template <class T>
softmax_options<T, arcface_margin<T>> arcface_options(
    T m = T(0.5), arcface_policy policy = arcface_policy::classic_fallback,
    arcface_gradient gradient = arcface_gradient::exact, T s = T(64)) {
  softmax_options<T, arcface_margin<T>> o;
  o.s = s;
  o.margin = arcface_margin<T>(m, policy, gradient);
  return o;
}

template <class T>
softmax_options<T, combined_margin<T>> combined_margin_options(T m1, T m2, T m3, T s = T(64)) {
  softmax_options<T, combined_margin<T>> o;
  o.s = s;
  o.margin = combined_margin<T>{m1, m2, m3};
  return o;
}

}  // namespace unitsface::losses
