// unitsface: the sample-to-sample softmax loss.
#pragma once

#include <cstdint>
#include <string>

#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/losses/detail/run.hpp"
#include "unitsface/losses/kernels/ss_softmax.hpp"
#include "unitsface/losses/pairwise_loss.hpp"

namespace unitsface::losses {

template <class T>
struct ss_softmax_options : evaluation_options {
  T s = T(64);   ///< official default
  T m = T(0.1);  ///< official default (Sample_to_Sample_Based_Softmax_Loss)
};

/// Sample-to-sample softmax (CosFace over the references, no bias):
///   l_i = mean_{p in P_i} log(1 + sum_n e^{s (c_in - c_ip + m)}),
/// exactly the official cross-entropy over s (c - m onehot) when each anchor has one positive
/// (the memory); with in-batch pairs an anchor's positives are averaged, and an anchor without
/// positives contributes 0.
template <class T>
class ss_softmax_loss : public pairwise_loss<ss_softmax_loss<T>, T> {
 public:
  using options = ss_softmax_options<T>;
  explicit ss_softmax_loss(const options& o = options{}) : opt_(o) {
    detail::require_positive("s", opt_.s);
    detail::require_finite_scalar("m", opt_.m);
    detail::require(opt_.m >= T(0) && opt_.m < T(1), "m",
                    "must lie in [0, 1), got " + std::to_string(opt_.m));
  }
  const options& opts() const { return opt_; }

 private:
  friend class pairwise_loss<ss_softmax_loss, T>;
  template <class Policy>
  loss_result<T> evaluate(const Policy& pol, const detail::call<T>& c) const {
    std::uint64_t params = detail::fingerprint_value(0x7373736f66746dULL, opt_.s);
    params = detail::fingerprint_value(detail::fingerprint_value(params, opt_.m), int(opt_.reduce));
    detail::validate_call(pol, c, opt_, true, 0, params);
    auto drv = detail::make_driver(pol, c, opt_, true, true);
    kernels::ss_softmax<T> k{opt_.s, opt_.m};
    return detail::run(drv, pol, c, opt_, k, {}, false, opt_.s);
  }
  options opt_;
};

}  // namespace unitsface::losses
