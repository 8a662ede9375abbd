// unitsface: the binary (per-pair sigmoid) losses with a learnable bias — the common class
// behind USS / USS-m, sample-to-sample BCE, and the BCE and UCE heads.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/losses/detail/run.hpp"
#include "unitsface/losses/kernels/log_of_sums.hpp"
#include "unitsface/losses/kernels/per_pair.hpp"
#include "unitsface/losses/kernels/ss_softmax.hpp"
#include "unitsface/losses/pairwise_loss.hpp"

namespace unitsface::losses {

/// The two USS forms of the spec.
enum class uss_form {
  per_pair,     ///< sum of one softplus per pair: the official code (paper Eq. 12)
  log_of_sums,  ///< log(1 + sum_p ...) + log(1 + sum_n ...): a tighter bound, never clamped
};

/// How the bias is initialised before a forward.
enum class bias_init {
  fixed,                ///< the bias keeps the value it has (set_bias or the constructor)
  data_dependent,       ///< official USS / SS-BCE: when b <= 0 (USS) or mean(b) <= 0 (SS-BCE),
                        ///< the forward first adds mean_i LSE_{n in N_i}(s c_in) to the bias;
                        ///< on every forward, so a bias that training pushes to b <= 0 is set
                        ///< again from the data on the next call (the official behaviour)
  data_dependent_once,  ///< the same, on the first forward that finds b <= 0 only: after
                        ///< one initialisation the bias is the optimiser's, whatever its sign
                        ///< (a deviation from the official code)
};

/// Where an initialised bias is stored.
enum class bias_storage {
  caller_precision,  ///< in T (natural default)
  float32,           ///< rounded to float, as the official code's `.float()` does
};

template <class T>
struct binary_options : evaluation_options {
  T s = T(64);   ///< scale (the paper's gamma); official default 64
  T m = T(0.1);  ///< margin on the positive logit
  uss_form form = uss_form::per_pair;
  bool clamp = true;  ///< official: clamp the softplus argument to [-s, s] (per-pair form)
  bias_init init = bias_init::data_dependent;
  bias_storage storage = bias_storage::caller_precision;
};

/// A binary pairwise loss with a scalar bias (USS, UCE) or one bias per reference row
/// (SS-BCE, BCE head). See uss.hpp, ss_bce.hpp, bce_head.hpp, uce_head.hpp for the named
/// losses built on it.
template <class T>
class binary_loss : public pairwise_loss<binary_loss<T>, T> {
 public:
  using options = binary_options<T>;

  /// A scalar bias (per_column false) or one bias for each of `classes` reference rows.
  binary_loss(const options& o, bool per_column, index_t classes, T initial_bias)
      : opt_(o), per_column_(per_column) {
    const index_t bias_size = per_column ? classes : 1;
    check_options(opt_);
    detail::require(bias_size >= 1, "classes", "must be >= 1");
    detail::require_finite_scalar("bias", initial_bias);
    bias_.assign(static_cast<std::size_t>(bias_size), initial_bias);
  }

  const options& opts() const { return opt_; }
  /// Replaces the options, checked as the constructor checks them: a changed option cannot
  /// bypass the checks (s = 0, m = 5). The bias is kept.
  void set_options(const options& o) {
    check_options(o);
    opt_ = o;
  }

  /// The bias b (scalar form) and the unified threshold t = b / s (paper Eq. 11).
  T bias() const { return current_bias()[0]; }
  T threshold() const { return bias() / opt_.s; }
  /// Every bias (1 value, or one per class), wherever it is stored (a bound bias is read from
  /// the caller's memory now; the reference stays valid as long as the loss).
  const std::vector<T>& biases() const { return current_bias(); }
  void set_bias(T b) {
    detail::require_finite_scalar("bias", b);
    store_bias(std::vector<T>(bias_.size(), b));
  }
  void set_biases(const std::vector<T>& b) {
    detail::require_size("bias", static_cast<index_t>(b.size()),
                         static_cast<index_t>(bias_.size()));
    for (T v : b) detail::require_finite_scalar("bias", v);
    store_bias(b);
  }
  bool per_column_bias() const { return per_column_; }
  /// Whether the next call (over the whole set of references) initialises the bias from the
  /// data first (bias_init, and a mean bias <= 0): a statistics pass (losses/required_bytes.hpp
  /// sizes it).
  bool initialises_bias() const { return initialises_at(mean_of(current_bias())); }

  /// Keeps the bias in the caller's host memory, as the class weights are: every call reads b
  /// from `b` (checked finite), the data-dependent initialisation writes into it, and the
  /// caller's optimiser updates it in place from `grad_bias` — no set_bias between steps.
  /// `b` holds the bias count (1, or one per class) and must outlive the binding; its current
  /// values become the bias. An empty view unbinds: the loss keeps the last values itself.
  void bind_bias(vector_view<T> b) {
    if (b.empty()) {
      current_bias();  // bias_ keeps the last values
      bound_ = {};
      return;
    }
    detail::require(b.data != nullptr, "bias", "null data");
    detail::require_size("bias", b.size(), static_cast<index_t>(bias_.size()));
    for (index_t i = 0; i < b.size(); ++i) detail::require_finite_scalar("bias", b[i]);
    bound_ = b;
  }
  bool bias_bound() const { return bound_.data != nullptr; }

  // forward / forward_backward / backward come from pairwise_loss; a forward may initialise
  // the bias first (bias_init::data_dependent).

 private:
  static void check_options(const options& o) {
    detail::require_positive("s", o.s);
    detail::require_finite_scalar("m", o.m);
    detail::require(o.m >= T(0) && o.m < T(1), "m",
                    "must lie in [0, 1), got " + std::to_string(o.m));
  }

  /// The bias values: bias_, refreshed from the caller's memory when bound.
  const std::vector<T>& current_bias() const {
    for (index_t i = 0; i < bound_.size(); ++i) bias_[static_cast<std::size_t>(i)] = bound_[i];
    return bias_;
  }
  void store_bias(const std::vector<T>& b) {
    bias_ = b;
    for (index_t i = 0; i < bound_.size(); ++i) bound_[i] = b[static_cast<std::size_t>(i)];
  }

  friend class pairwise_loss<binary_loss, T>;
  template <class Policy>
  loss_result<T> evaluate(const Policy& pol, const detail::call<T>& c) {
    // log_of_sums starts with a statistics pass; per_pair has none
    const bool statistics_first = opt_.form == uss_form::log_of_sums;
    detail::validate_call(
        pol, c, opt_, statistics_first, static_cast<index_t>(bias_.size()), parameters(), [&] {
          if (per_column_) {
            detail::require(
                c.refs.kind != reference_kind::in_batch, "references",
                "a per-identity bias needs one reference row per identity, not in-batch pairs");
            detail::require(c.refs.row_classes == nullptr, "references",
                            "a per-class bias is read by row: sampled rows are not supported");
            detail::require(static_cast<index_t>(bias_.size()) == c.refs.classes(), "bias",
                            "has " + std::to_string(bias_.size()) + " values for " +
                                std::to_string(c.refs.classes()) + " classes");
          }
          // A bound bias is the caller's optimiser's: a step that made it NaN or inf is refused
          // here rather than spread through the loss.
          if (bound_.data != nullptr) {
            for (index_t i = 0; i < bound_.size(); ++i) {
              detail::require_finite_scalar("bias", bound_[i]);
            }
          }
        });
    auto drv = detail::make_driver(pol, c, opt_, statistics_first, !per_column_);
    maybe_initialise(drv, pol, c);
    const std::vector<T>& b = current_bias();

    // The kernel reads the bias from the policy's memory; a per-column bias is offset to
    // the shard's first class.
    auto bias_buf = backends::make_buffer<T>(pol, static_cast<index_t>(b.size()));
    backends::copy_from_host(pol, b.data(), static_cast<index_t>(b.size()),
                             backends::data_ptr(bias_buf));
    const T* bias_ptr = backends::data_ptr(bias_buf) + (per_column_ ? c.refs.label_offset : 0);
    if (opt_.form == uss_form::per_pair) {
      kernels::per_pair<T> k{opt_.s, opt_.m, bias_ptr, per_column_, opt_.clamp};
      return detail::run(drv, pol, c, opt_, k, b, per_column_, opt_.s);
    }
    kernels::log_of_sums<T> k{opt_.s, opt_.m, bias_ptr, per_column_};
    return detail::run(drv, pol, c, opt_, k, b, per_column_, opt_.s);
  }

  /// What every rank of a class-sharded call must agree on: the options and a scalar bias (a
  /// bias per class is each rank's own for its classes).
  std::uint64_t parameters() const {
    std::uint64_t h = 0x756e697473666163ULL;
    h = detail::fingerprint_value(h, opt_.s);
    h = detail::fingerprint_value(h, opt_.m);
    h = detail::fingerprint_value(h, int(opt_.form));
    h = detail::fingerprint_value(h, int(opt_.clamp));
    h = detail::fingerprint_value(h, int(opt_.init));
    h = detail::fingerprint_value(h, int(opt_.storage));
    h = detail::fingerprint_value(h, int(opt_.reduce));
    h = detail::fingerprint_value(h, int(per_column_));
    h = detail::fingerprint_value(h, int(initialised_));
    if (!per_column_) h = detail::fingerprint_value(h, current_bias()[0]);
    return h;
  }

  /// The mean bias: over class shards, of every rank's own classes (the other entries of a
  /// rank's per-class bias are not its to read), added in rank order.
  T mean_bias(const detail::call<T>& c) const {
    const std::vector<T>& b = current_bias();
    if (c.comm == nullptr || !per_column_) return mean_of(b);
    T own = T(0);
    for (index_t j = 0; j < c.refs.rows.rows; ++j) {
      own += b[static_cast<std::size_t>(c.refs.label_offset + j)];
    }
    std::vector<T> all(static_cast<std::size_t>(c.comm->size()));
    c.comm->all_gather_host(&own, all.data(), sizeof(T));
    T sum = T(0);
    for (T v : all) sum += v;
    return sum / T(b.size());
  }

  static T mean_of(const std::vector<T>& b) {
    T sum = T(0);
    for (T v : b) sum += v;
    return sum / T(b.size());
  }

  /// Whether a call whose mean bias is `mean_bias` initialises the bias from the data.
  bool initialises_at(T mean_bias) const {
    if (opt_.init == bias_init::fixed) return false;
    if (opt_.init == bias_init::data_dependent_once && initialised_) return false;
    return !(mean_bias > T(0));
  }

  // The official data-dependent initialisation: runs before the loss of the same forward.
  // Over class shards every rank decides on the same mean bias and the same merged
  // statistics, so every rank initialises to the same value.
  template <class Driver, class Policy>
  void maybe_initialise(Driver& drv, const Policy& pol, const detail::call<T>& c) {
    if (!initialises_at(mean_bias(c))) return;
    std::vector<T> b = current_bias();  // a copy, written back by store_bias
    const auto stats = detail::statistics(drv, pol, kernels::negative_lse<T>{opt_.s}, c.comm);
    T acc = T(0);
    index_t rows = 0;
    for (const auto& st : stats) {
      if (st.n_neg == 0) continue;  // an anchor without negatives has no LSE to contribute
      acc += st.lse_neg;
      ++rows;
    }
    detail::require(rows > 0, "references",
                    "no anchor has a negative: the bias cannot be initialised from the data");
    T init = acc / T(rows);
    if (opt_.storage == bias_storage::float32) init = static_cast<T>(static_cast<float>(init));
    if (per_column_) {
      // SS-BCE: the value is added to every identity's bias (official `bias.data += ...`)
      for (T& v : b) {
        v += init;
        if (opt_.storage == bias_storage::float32) v = static_cast<T>(static_cast<float>(v));
      }
    } else {
      b[0] = init;  // USS: the bias is set (official `bias.data = ...`)
    }
    store_bias(b);
    initialised_ = true;
  }

  options opt_;
  bool per_column_;
  // The bias; when bound, a copy of the caller's values refreshed on every read (mutable: a
  // const read refreshes it).
  mutable std::vector<T> bias_;
  vector_view<T> bound_{};    ///< the caller's memory holding the bias, or empty
  bool initialised_ = false;  ///< the data-dependent initialisation has run once
};

}  // namespace unitsface::losses
