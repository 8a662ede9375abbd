// Numerical extremes of every loss: cosines of exactly +-1 (an anchor equal to, or the
// negative of, its reference row), scales up to 128, softplus arguments at exactly +-s with
// and without the clamp, ArcFace at theta = 0 and pi and inside its classic-fallback region,
// and rows of zero norm. Each result is checked for NaN/Inf, against the naive long-double
// reference (reference_losses.hpp) and, where the loss is differentiable at the chosen point,
// against central finite differences of the double-precision loss.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "loss_cases.hpp"
#include "unitsface/core/gradcheck.hpp"

using namespace unitsface;
using namespace unitsface::test;

namespace extremes_test {

using ld = reference::ld;

template <class T>
constexpr double eps_of() {
  return double(std::numeric_limits<T>::epsilon());
}

template <class T>
bool all_finite(const std::vector<T>& v) {
  for (T e : v)
    if (!std::isfinite(double(e))) return false;
  return true;
}

// ---- the angular targets of the reference, with the cosine clamped to [-1, 1] -------------
// The long-double cosine of two equal rows can come out one unit in the last place above 1,
// where acos is NaN; the library clamps (combined margin) or takes sqrt(max(1 - c^2, 0))
// (ArcFace), which is what the clamp here reproduces.
inline ld unit_clamp(ld c) {
  return c > 1 ? ld(1) : (c < -1 ? ld(-1) : c);
}

struct arc_target {
  ld m;
  arcface_policy policy;
  ld operator()(ld c) const {
    c = unit_clamp(c);
    const ld pi = std::acos(ld(-1));
    const ld phi = std::cos(std::acos(c) + m);
    if (policy == arcface_policy::easy_margin) return c > 0 ? phi : c;
    if (policy == arcface_policy::classic_fallback)
      return c > std::cos(pi - m) ? phi : c - std::sin(pi - m) * m;
    return phi;
  }
};

struct combined_target {
  ld m1, m2, m3;
  ld operator()(ld c) const { return std::cos(m1 * std::acos(unit_clamp(c)) + m2) - m3; }
};

// ---- the cases ---------------------------------------------------------------------------
// A loss case and where it is not differentiable: an angular margin has a kink in the
// embeddings at theta = 0 of a target pair (theta ~ |x_perp| is a cone there; every policy
// uses cos(theta + m) near 0) and, for `none` and the combined margin, at theta = pi.
template <class T>
struct xcase {
  loss_case<T> c;
  bool kink_theta0 = false;
  bool kink_theta_pi = false;
  bool kink_cos0 = false;  ///< easy margin: cos(theta + m) above c = 0, c below (a jump)
  bool angular = false;
};

/// The per-pair binary losses (USS, SS-BCE, BCE and UCE heads) with and without the clamp.
template <class T>
std::vector<xcase<T>> per_pair_cases(T s, T m_uss, T m_head) {
  std::vector<xcase<T>> v;
  for (bool clamp : {true, false}) {
    const std::string cl = clamp ? " clamp" : " no clamp";
    auto add = [&](const std::string& name, refs_mode mode, bool per_column, T m) {
      xcase<T> x;
      x.c = binary_case<T>(name + cl, mode, per_column, uss_form::per_pair, clamp, s, m);
      v.push_back(std::move(x));
    };
    add("uss per_pair memory", refs_mode::memory, false, m_uss);
    add("uss per_pair masked", refs_mode::masked, false, m_uss);
    add("uss per_pair in_batch", refs_mode::in_batch, false, m_uss);
    add("ss_bce memory", refs_mode::memory, true, m_uss);
    add("ss_bce masked", refs_mode::masked, true, m_uss);
    add("bce head", refs_mode::weights, true, m_head);
    add("uce head", refs_mode::weights, false, m_head);
  }
  return v;
}

template <class T>
xcase<T> arcface_case(T s, T m, arcface_policy policy, arcface_gradient gradient) {
  const char* pname = policy == arcface_policy::none          ? "none"
                      : policy == arcface_policy::easy_margin ? "easy_margin"
                                                              : "classic_fallback";
  xcase<T> x;
  x.c = softmax_case<T>(std::string("arcface ") + pname +
                            (gradient == arcface_gradient::exact ? " exact" : " straight_through"),
                        arcface_options<T>(m, policy, gradient, s), arc_target{ld(m), policy},
                        gradient == arcface_gradient::exact);
  x.kink_theta0 = true;
  x.kink_theta_pi = policy == arcface_policy::none;
  x.kink_cos0 = policy == arcface_policy::easy_margin;
  x.angular = true;
  return x;
}

/// Every loss of the library at scale s (each form, reference kind and option).
template <class T>
std::vector<xcase<T>> all_cases(T s) {
  using F = uss_form;
  const T m_uss = T(0.1), m_head = T(0.4);
  std::vector<xcase<T>> v = per_pair_cases<T>(s, m_uss, m_head);
  auto add = [&](loss_case<T> c) {
    xcase<T> x;
    x.c = std::move(c);
    v.push_back(std::move(x));
  };
  add(binary_case<T>("uss log_of_sums memory", refs_mode::memory, false, F::log_of_sums, false, s,
                     m_uss));
  add(binary_case<T>("uss log_of_sums masked", refs_mode::masked, false, F::log_of_sums, false, s,
                     m_uss));
  add(binary_case<T>("uss log_of_sums in_batch", refs_mode::in_batch, false, F::log_of_sums, false,
                     s, m_uss));
  add(binary_case<T>("uce head log_of_sums", refs_mode::weights, false, F::log_of_sums, false, s,
                     m_head));
  add(ss_softmax_case<T>("ss_softmax memory", refs_mode::memory, s, m_uss));
  add(ss_softmax_case<T>("ss_softmax masked", refs_mode::masked, s, m_uss));
  add(ss_softmax_case<T>("ss_softmax in_batch", refs_mode::in_batch, s, m_uss));
  add(softmax_case<T>("normalised softmax", cosface_options<T>(T(0), s), [](ld c) { return c; }));
  add(softmax_case<T>("cosface", cosface_options<T>(T(0.35), s),
                      [](ld c) { return c - ld(0.35); }));
  for (arcface_policy pol :
       {arcface_policy::classic_fallback, arcface_policy::easy_margin, arcface_policy::none})
    v.push_back(arcface_case<T>(s, T(0.5), pol, arcface_gradient::exact));
  v.push_back(arcface_case<T>(s, T(0.5), arcface_policy::none, arcface_gradient::straight_through));
  xcase<T> cm;
  cm.c = softmax_case<T>("combined margin", combined_margin_options<T>(T(0.9), T(0.3), T(0.15), s),
                         combined_target{ld(0.9), ld(0.3), ld(0.15)});
  cm.kink_theta0 = cm.kink_theta_pi = cm.angular = true;
  v.push_back(std::move(cm));
  return v;
}

// ---- inputs ------------------------------------------------------------------------------
// The order-4 Hadamard rows: entries +-1, norm 2, mutually orthogonal. Rows built from them
// with power-of-two scales normalise to entries of exactly +-1/2 in every precision, so all
// cosines are exactly -1, 0 or 1 and every logit s c is exactly -s, 0 or s.
inline void append_hadamard(std::vector<double>& out, int k, double scale) {
  static const double h[4][4] = {{1, 1, 1, 1}, {1, -1, 1, -1}, {1, 1, -1, -1}, {1, -1, -1, 1}};
  for (int d = 0; d < 4; ++d) out.push_back(scale * h[k][d]);
}

struct hadamard_anchor {
  int row;
  double scale;
  index_t label;
};

/// References h0, h1, h2, h3, -h0, -h2 (rows 0..5); anchors scaled Hadamard rows. The rows
/// are not symmetric under negation, so the terms of cosine 0 do not cancel in the gradients
/// (with every row and its negative present, d loss / d x would be exactly 0 here).
inline problem<double> hadamard_problem(const std::vector<hadamard_anchor>& anchors,
                                        std::vector<unsigned char> valid) {
  problem<double> p;
  p.B = static_cast<index_t>(anchors.size());
  p.C = 6;
  p.D = 4;
  for (int k = 0; k < 4; ++k) append_hadamard(p.w, k, 1.0);
  append_hadamard(p.w, 0, -1.0);
  append_hadamard(p.w, 2, -1.0);
  for (const hadamard_anchor& a : anchors) {
    append_hadamard(p.x, a.row, a.scale);
    p.y.push_back(a.label);
  }
  p.valid = std::move(valid);
  return p;
}

/// Targets at theta = 0 and theta = pi, negatives at cosine +1, -1 and 0. In-batch, the
/// pairs of anchors labelled 0, 1 and 5 are positives at cosine -1, anchor 6 is a negative
/// of anchor 0 at +1 and of anchor 2 at -1, and anchors 5 and 6 have no in-batch positive.
/// Row 2 is an unwritten memory row (masked cases).
inline problem<double> unit_problem() {
  return hadamard_problem({{0, 2.0, 0},     // theta = 0, row 4 (-h0) a negative at -1
                           {1, -0.5, 1},    // theta = pi
                           {0, -1.0, 0},    // theta = pi, row 4 a negative at +1
                           {1, 4.0, 1},     // theta = 0
                           {2, 1.0, 5},     // theta = pi (row 5 = -h2), row 2 a negative at +1
                           {3, -2.0, 3},    // theta = pi
                           {0, 1.0, 4},     // theta = pi (row 4 = -h0), row 0 a negative at +1
                           {2, -0.25, 5}},  // theta = 0, row 2 a negative at -1
                          {1, 1, 0, 1, 1, 1});
}

/// Every target at theta = pi exactly, negatives at +1 and 0.
inline problem<double> theta_pi_problem() {
  return hadamard_problem(
      {{0, -2.0, 0}, {1, -1.0, 1}, {0, 0.5, 4}, {2, 1.0, 5}, {2, -1.0, 2}, {3, -4.0, 3}},
      std::vector<unsigned char>(6, 1));
}

/// Gaussian references; each anchor an exact copy or the exact negative of a reference row
/// (cosine 1 or -1 up to rounding, which may land one unit above 1). In-batch, anchors 0 and
/// 2 are equal and anchor 3 is their negative.
inline problem<double> copies_problem(std::uint64_t seed) {
  problem<double> p = make_problem<double>(6, 6, 5, seed);
  const struct {
    index_t row;
    double sign;
  } a[] = {{0, 1.0}, {1, -1.0}, {0, 1.0}, {0, -1.0}, {2, 1.0}, {3, -1.0}};
  p.x.clear();
  p.y.clear();
  for (const auto& e : a) {
    for (index_t d = 0; d < p.D; ++d) p.x.push_back(e.sign * p.w[e.row * p.D + d]);
    p.y.push_back(e.row);
  }
  p.valid.assign(6, 1);
  p.valid[4] = 0;
  return p;
}

/// Anchors at chosen target cosines: x_i = scale_i (c_i r_hat + sqrt(1 - c_i^2) u_i) with u_i
/// a random unit vector orthogonal to the target's normalised row r_hat.
inline problem<double> at_target_cosines(const std::vector<double>& cosines, index_t C,
                                         std::uint64_t seed) {
  const index_t B = static_cast<index_t>(cosines.size()), D = 5;
  problem<double> p = make_problem<double>(B, C, D, seed);
  std::mt19937_64 rng(seed + 17);
  std::normal_distribution<double> n01(0.0, 1.0);
  p.x.clear();
  p.y.clear();
  for (index_t i = 0; i < B; ++i) {
    const index_t y = i % C;
    std::vector<double> r(p.w.begin() + y * D, p.w.begin() + (y + 1) * D), u(D);
    double rn = 0.0;
    for (double e : r) rn += e * e;
    rn = std::sqrt(rn);
    for (double& e : r) e /= rn;
    double dot = 0.0, un = 0.0;
    for (double& e : u) e = n01(rng);
    for (index_t d = 0; d < D; ++d) dot += u[d] * r[d];
    for (index_t d = 0; d < D; ++d) u[d] -= dot * r[d];
    for (double e : u) un += e * e;
    un = std::sqrt(un);
    const double c = cosines[i], sine = std::sqrt(1.0 - c * c), scale = 0.5 + 0.7 * double(i);
    for (index_t d = 0; d < D; ++d) p.x.push_back(scale * (c * r[d] + sine * u[d] / un));
    p.y.push_back(y);
  }
  p.valid.assign(static_cast<std::size_t>(C), 1);
  return p;
}

// ---- checks ------------------------------------------------------------------------------
enum class part { input, weight, bias };

inline double loss_with(const loss_case<double>& c, problem<double> p, std::vector<double> bias,
                        part b, std::span<const double> v) {
  if (b == part::input) p.x.assign(v.begin(), v.end());
  if (b == part::weight) p.w.assign(v.begin(), v.end());
  if (b == part::bias) bias.assign(v.begin(), v.end());
  return c.run(p, bias, false).loss;
}

/// Finite differences of the double loss over one parameter block against `analytic` (the
/// gradient of the precision under test). The coordinates in `fine` (rows of zero norm)
/// lie in the normalisation's linear region ||x|| < 1e-5, where d loss / d x is 1e5 times
/// d loss / d x_hat: their step is 1e-10 so that the difference stays inside that region and
/// resolves the steep slope; the other coordinates take the default step.
inline void check_part(const loss_case<double>& c, const problem<double>& p,
                       const std::vector<double>& bias, part b, const std::vector<double>& at,
                       const std::vector<double>& analytic, const std::vector<std::size_t>& fine,
                       double tolerance, const char* what) {
  std::vector<std::size_t> coarse;
  for (std::size_t k = 0; k < at.size(); ++k) {
    bool in_fine = false;
    for (std::size_t f : fine) in_fine = in_fine || f == k;
    if (!in_fine) coarse.push_back(k);
  }
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<std::size_t>& idx = pass == 0 ? coarse : fine;
    if (idx.empty()) continue;
    std::vector<double> sub_at, sub_analytic;
    for (std::size_t k : idx) {
      sub_at.push_back(at[k]);
      sub_analytic.push_back(analytic[k]);
    }
    gradcheck_options o;
    o.tolerance = tolerance;
    if (pass == 1) o.rel_step = 1e-10;
    const host_reference_scope on_host;  // the differences' forwards: see loss_cases.hpp
    const gradcheck_result r = gradcheck(
        [&](std::span<const double> v) {
          std::vector<double> full = at;
          for (std::size_t q = 0; q < idx.size(); ++q) full[idx[q]] = v[q];
          return loss_with(c, p, bias, b, full);
        },
        sub_at, sub_analytic, o);
    INFO("d/d" << what << (pass == 1 ? " (zero-norm rows)" : "") << ": " << r.message());
    CHECK(r.passed);
  }
}

template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

/// The tolerance of a gradient check in precision T: the default 1e-6 in double; in float
/// the analytic gradient carries float rounding, amplified by s and, near theta = pi, by the
/// margin's derivative 1 / sin(theta) (largest error measured on the CPU backends: 9e-5).
template <class T>
double gradient_tolerance() {
  return std::is_same_v<T, double> ? 1e-6 : 2e-4;
}

/// What check_case verifies.
struct settings {
  bool gradients = true;                    ///< finite-difference checks (smooth points only)
  double angular_slack = 0.0;               ///< extra absolute loss tolerance of angular margins
  std::vector<std::size_t> fine_x, fine_w;  ///< coordinates of zero-norm rows
};

/// One case in precision T at scale s on problem p: NaN/Inf, the long-double reference, and
/// (settings) finite differences of the same case in double (dc) on the same values.
template <class T>
void check_case(const xcase<T>& xc, const loss_case<double>& dc, const problem<T>& p, T b0,
                double s, const settings& st) {
  const loss_case<T>& c = xc.c;
  const std::vector<T> bias = bias_for(c, p.C, b0);
  outcome<T> o;
  REQUIRE_NOTHROW(o = c.run(p, bias, true));
  CHECK(std::isfinite(double(o.loss)));
  CHECK(all_finite(o.gx));
  CHECK(all_finite(o.gw));
  CHECK(all_finite(o.gb));
  CHECK(o.gw.size() == (c.mode == refs_mode::weights ? p.w.size() : std::size_t(0)));
  CHECK(o.gb.size() == bias.size());
  // The forward alone gives the same value.
  CHECK(double(c.run(p, bias, false).loss) == Approx(double(o.loss)).epsilon(1e-5));

  const problem<double> pd = p.template as<double>();
  const std::vector<double> bd = to_double(bias);
  const double want = c.reference(pd, bd);
  // Rounding of the cosines (an eps or so each, weighted by up to s per pair in the loss) and
  // of the loss itself; the largest error measured on the CPU backends is a ninth of this.
  const double n_refs = double(c.mode == refs_mode::in_batch ? p.B : p.C);
  const double tol = 4 * eps_of<T>() * (std::fabs(want) + s * (1 + n_refs)) + st.angular_slack;
  INFO("loss " << double(o.loss) << " reference " << want << " tolerance " << tol);
  CHECK(std::fabs(double(o.loss) - want) <= tol);

  if (!st.gradients || !c.exact_gradient) return;
  const double gt = gradient_tolerance<T>();
  check_part(dc, pd, bd, part::input, pd.x, to_double(o.gx), st.fine_x, gt, "input");
  if (c.mode == refs_mode::weights)
    check_part(dc, pd, bd, part::weight, pd.w, to_double(o.gw), st.fine_w, gt, "weight");
  if (c.bias != 0) check_part(dc, pd, bd, part::bias, bd, to_double(o.gb), {}, gt, "bias");
}

}  // namespace extremes_test

TEMPLATE_TEST_CASE("extremes: cosines of exactly -1 and 1 at s = 16 to 128 for every loss",
                   "[losses][extremes]", float, double) {
  // Hadamard data: every cosine is exactly -1, 0 or 1 in the library and in the reference,
  // so the reference agrees to rounding of the exponentials. Targets at theta = 0 and pi
  // put the angular margins on their kinks: no finite differences for them here.
  using T = TestType;
  namespace X = extremes_test;
  const problem<T> p = X::unit_problem().as<T>();
  for (double s : {16.0, 64.0, 128.0}) {
    const auto cases = X::all_cases<T>(T(s));
    const auto dcases = X::all_cases<double>(s);
    for (std::size_t k = 0; k < cases.size(); ++k) {
      INFO("s = " << s << ": " << cases[k].c.name);
      X::settings st;
      st.gradients = !cases[k].kink_theta0 && !cases[k].kink_theta_pi;
      X::check_case(cases[k], dcases[k].c, p, T(3), s, st);
    }
  }
}

TEMPLATE_TEST_CASE("extremes: anchors equal to or the negative of their reference rows",
                   "[losses][extremes]", float, double) {
  // Random rows: the computed cosine of a row with itself is 1 only up to rounding (and may
  // exceed 1). The angular margins are ill-conditioned there: a cosine error d moves theta
  // = acos(c) by sqrt(2 d) and the target logit by s sin(m) sqrt(2 d), so their loss is held
  // to s sqrt(eps) more (the largest error measured is a fifth of that).
  using T = TestType;
  namespace X = extremes_test;
  for (std::uint64_t seed : {3u, 4u}) {
    const problem<T> p = X::copies_problem(seed).as<T>();
    for (double s : {16.0, 128.0}) {
      const auto cases = X::all_cases<T>(T(s));
      const auto dcases = X::all_cases<double>(s);
      for (std::size_t k = 0; k < cases.size(); ++k) {
        INFO("seed " << seed << " s = " << s << ": " << cases[k].c.name);
        X::settings st;
        st.gradients = !cases[k].kink_theta0 && !cases[k].kink_theta_pi;
        st.angular_slack = cases[k].angular ? s * std::sqrt(X::eps_of<T>()) : 0.0;
        X::check_case(cases[k], dcases[k].c, p, T(3), s, st);
      }
    }
  }
}

TEMPLATE_TEST_CASE("extremes: softplus arguments at exactly -s and s with and without the clamp",
                   "[losses][extremes][clamp]", float, double) {
  // m = 0 and b = 0 on Hadamard data: every per-pair argument s (c - m) - b is exactly -s, 0
  // or s, the ends of the clamp's closed interval, where the clamp passes the value and the
  // gradient unchanged (PyTorch's clamp): clamped and unclamped results are identical. A
  // bias of -+1/64 moves the arguments at -+s just outside: there the clamp holds the value
  // at softplus(+-s) with a zero gradient, and the loss is smooth again (finite differences).
  using T = TestType;
  namespace X = extremes_test;
  const problem<T> p = X::unit_problem().as<T>();
  for (double s : {16.0, 128.0}) {
    const auto cases = X::per_pair_cases<T>(T(s), T(0), T(0));
    const auto dcases = X::per_pair_cases<double>(s, 0.0, 0.0);
    const std::size_t half = cases.size() / 2;  // clamped cases first, then the same unclamped
    for (std::size_t k = 0; k < half; ++k) {
      INFO("s = " << s << ": " << cases[k].c.name);
      X::settings at_ends;
      at_ends.gradients = false;  // a kink of the clamped loss
      X::check_case(cases[k], dcases[k].c, p, T(0), s, at_ends);
      X::check_case(cases[k + half], dcases[k + half].c, p, T(0), s, X::settings{});
      const std::vector<T> bias = bias_for(cases[k].c, p.C, T(0));
      const outcome<T> on = cases[k].c.run(p, bias, true);
      const outcome<T> off = cases[k + half].c.run(p, bias, true);
      CHECK(on.loss == off.loss);
      CHECK(on.gx == off.gx);
      CHECK(on.gw == off.gw);
      CHECK(on.gb == off.gb);
      for (double b0 : {-1.0 / 64, 1.0 / 64}) {
        INFO("b = " << b0);
        X::check_case(cases[k], dcases[k].c, p, T(b0), s, X::settings{});
        X::check_case(cases[k + half], dcases[k + half].c, p, T(b0), s, X::settings{});
        // Each bias moves some pairs beyond the interval by 1/64 (for b < 0 the negatives at
        // cosine 1, for b > 0 the positives at cosine -1), where the clamp holds their term at
        // softplus(s) instead of softplus(s + 1/64): the clamped loss is the smaller one.
        const std::vector<T> bb = bias_for(cases[k].c, p.C, T(b0));
        CHECK(cases[k].c.run(p, bb, false).loss < cases[k + half].c.run(p, bb, false).loss);
      }
    }
  }
}

TEMPLATE_TEST_CASE("extremes: ArcFace at theta = 0 and theta = pi for every policy",
                   "[losses][extremes][arcface]", float, double) {
  // Values at theta = 0 and pi on Hadamard data against the reference for each policy,
  // margin and gradient; on data with every target at theta = pi the easy-margin and
  // classic-fallback branches (c and c - m sin(pi - m)) are smooth, and there the
  // straight-through gradient (1) is the exact one too.
  using T = TestType;
  namespace X = extremes_test;
  const problem<T> both = X::unit_problem().as<T>();
  const problem<T> at_pi = X::theta_pi_problem().as<T>();
  for (double s : {16.0, 64.0, 128.0}) {
    for (double m : {0.5, 1.5, 3.0}) {
      for (arcface_policy pol :
           {arcface_policy::none, arcface_policy::easy_margin, arcface_policy::classic_fallback}) {
        for (arcface_gradient g : {arcface_gradient::exact, arcface_gradient::straight_through}) {
          const auto c = X::arcface_case<T>(T(s), T(m), pol, g);
          auto dc = X::arcface_case<double>(s, m, pol, g);
          INFO("s = " << s << " m = " << m << ": " << c.c.name);
          X::settings values_only;
          values_only.gradients = false;
          X::check_case(c, dc.c, both, T(0), s, values_only);
          X::settings st;
          st.gradients = pol != arcface_policy::none;
          dc.c.exact_gradient = true;
          auto c_pi = c;
          c_pi.c.exact_gradient = true;  // exact in the branches these targets fall in
          X::check_case(c_pi, dc.c, at_pi, T(0), s, st);
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("extremes: ArcFace inside the classic-fallback region cos theta <= cos(pi - m)",
                   "[losses][extremes][arcface]", float, double) {
  // Targets placed at cosines from just below the threshold cos(pi - m) to 1e-3 above -1;
  // random data rarely reaches the region. The classic fallback is discontinuous at the
  // threshold itself, so the inputs keep away from it (2% of its distance to -1). Every
  // policy is smooth at these points: the exact gradient matches finite differences for all
  // of them, the straight-through gradient for the two policies whose branch here is linear
  // in c (c, c - m sin(pi - m)) but not for `none`.
  using T = TestType;
  namespace X = extremes_test;
  for (double m : {0.5, 1.2}) {
    const double th = std::cos(std::acos(-1.0) - m);
    std::vector<double> cosines;
    for (double f : {0.02, 0.2, 0.5, 0.8, 0.98, 0.999}) cosines.push_back(th + (-1.0 - th) * f);
    const problem<T> p = X::at_target_cosines(cosines, 4, 90 + std::uint64_t(10 * m)).as<T>();
    for (double s : {16.0, 64.0, 128.0}) {
      for (arcface_policy pol :
           {arcface_policy::none, arcface_policy::easy_margin, arcface_policy::classic_fallback}) {
        for (arcface_gradient g : {arcface_gradient::exact, arcface_gradient::straight_through}) {
          const auto c = X::arcface_case<T>(T(s), T(m), pol, g);
          const auto dc = X::arcface_case<double>(s, m, pol, g);
          INFO("s = " << s << " m = " << m << ": " << c.c.name);
          // cos(theta + m) near theta = pi: a cosine error d moves theta by d / sin(theta),
          // with sin(theta) down to 0.016 here.
          X::settings st;
          st.angular_slack = 64 * s * X::eps_of<T>();
          st.gradients = true;
          if (g == arcface_gradient::straight_through) {
            auto exact_here = c;
            exact_here.c.exact_gradient = true;
            if (pol != arcface_policy::none) {
              X::check_case(exact_here, dc.c, p, T(0), s, st);
            } else {
              // d cos(theta + m) / d cos(theta) is far from 1 here: the finite differences
              // must disagree with the straight-through gradient.
              const outcome<T> o = c.c.run(p, {}, true);
              const problem<double> pd = p.template as<double>();
              const host_reference_scope on_host;
              const auto r = gradcheck(
                  [&](std::span<const double> v) {
                    return X::loss_with(dc.c, pd, {}, X::part::input, v);
                  },
                  pd.x, X::to_double(o.gx));
              CHECK_FALSE(r.passed);
            }
          } else {
            X::check_case(c, dc.c, p, T(0), s, st);
          }
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("extremes: rows of zero norm in the anchors and the references",
                   "[losses][extremes][zero]", float, double) {
  // x_hat = x / max(||x||, 1e-5) (F.normalize): a zero row has cosine 0 with everything and
  // the gradient g / 1e-5; the loss is smooth there (x_hat is linear for ||x|| < 1e-5). The
  // library accepts zero rows (the official memory holds them until written): finite
  // values, the reference's, and finite differences with a step inside that linear region.
  using T = TestType;
  namespace X = extremes_test;
  for (int which = 1; which <= 3; ++which) {
    const bool zero_anchor = (which & 1) != 0, zero_ref = (which & 2) != 0;
    problem<double> pd = make_problem<double>(6, 7, 5, 500 + std::uint64_t(which));
    X::settings st;
    if (zero_anchor) {
      for (index_t d = 0; d < pd.D; ++d) {
        pd.x[std::size_t(pd.D + d)] = 0.0;  // anchor 1
        st.fine_x.push_back(std::size_t(pd.D + d));
      }
    }
    if (zero_ref) {
      // The target row of anchor 2 and a row no anchor is labelled with.
      for (index_t row : {pd.y[2], index_t(5)}) {
        pd.valid[std::size_t(row)] = 1;
        for (index_t d = 0; d < pd.D; ++d) {
          pd.w[std::size_t(row * pd.D + d)] = 0.0;
          st.fine_w.push_back(std::size_t(row * pd.D + d));
        }
      }
    }
    const problem<T> p = pd.as<T>();
    for (double s : {16.0, 128.0}) {
      const auto cases = X::all_cases<T>(T(s));
      const auto dcases = X::all_cases<double>(s);
      for (std::size_t k = 0; k < cases.size(); ++k) {
        INFO("zero anchor " << zero_anchor << " zero references " << zero_ref << " s = " << s
                            << ": " << cases[k].c.name);
        // In-batch pairs take the zero anchor as a reference too: its fine coordinates are
        // those of the input (there is no weight block). The easy margin jumps at cosine 0,
        // where every pair of a zero row lies: values only.
        X::settings here = st;
        here.gradients = !cases[k].kink_cos0;
        X::check_case(cases[k], dcases[k].c, p, T(3), s, here);
      }
    }
  }
}

namespace extremes_test {

/// CosFace (m = 0.4) + lambda USS-m (m = 0.1, clamp, fixed bias b), both at scale s.
template <class T>
embedded_loss<T> embedded_at(double s, double lambda, double b) {
  binary_options<T> uo;
  uo.s = T(s);
  uo.init = bias_init::fixed;
  uss_loss<T> u(uo);
  u.set_bias(T(b));
  embedded_options<T> eo;
  eo.lambda = T(lambda);
  return embedded_loss<T>(cosface_loss<T>(cosface_options<T>(T(0.4), T(s))), u, eo);
}

/// A warm-up step on `warm` (it writes that batch into a fresh memory), then the step at
/// epoch 1 on q: its loss, and with gx the gradients.
template <class T>
T embedded_second_step(double s, double lambda, double b, const problem<T>& warm,
                       const problem<T>& q, std::vector<T>* gx = nullptr,
                       std::vector<T>* gw = nullptr, std::vector<T>* gb = nullptr) {
  const auto& pol = policy();
  embedded_loss<T> E = embedded_at<T>(s, lambda, b);
  losses::feature_memory<T, policy_type> mem(q.C, q.D, {}, pol);
  const device_problem<T> d0(warm);
  E.forward(pol, d0.input(), d0.labels(), d0.rows(), mem, 0);
  const device_problem<T> d(q);
  if (gx == nullptr) return E.forward(pol, d.input(), d.labels(), d.rows(), mem, 1);
  auto bx = backends::make_buffer<T>(pol, q.B * q.D);
  auto bw = backends::make_buffer<T>(pol, q.C * q.D);
  const loss_result<T> r = E.step(pol, d.input(), d.labels(), d.rows(),
                                  gradients<T>{matrix_view<T>(backends::data_ptr(bx), q.B, q.D),
                                               matrix_view<T>(backends::data_ptr(bw), q.C, q.D)},
                                  mem, 1);
  *gx = download<T>(backends::data_ptr(bx), q.B * q.D);
  *gw = download<T>(backends::data_ptr(bw), q.C * q.D);
  *gb = r.grad_bias;
  return r.loss;
}

}  // namespace extremes_test

TEMPLATE_TEST_CASE("extremes: the embedded loss at s = 128 with a zero anchor written to memory",
                   "[losses][extremes][embedded]", float, double) {
  // CosFace + 0.7 USS-m over the memory, both at s = 128, on Hadamard anchors plus a zero
  // anchor. The warm-up step writes the batch into the memory (the zero anchor as identity
  // 2's row); the next step's value is the CosFace reference plus 0.7 times the USS
  // reference over that memory, and d L / d x matches finite differences with the memory
  // held as the warm-up wrote it (a step differentiates with the memory as a constant).
  using T = TestType;
  namespace X = extremes_test;
  const double s = 128, lambda = 0.7, b = 3;
  problem<double> start = X::unit_problem();
  start.B += 1;
  for (int d = 0; d < 4; ++d) start.x.push_back(0.0);
  start.y.push_back(2);
  const problem<T> p = start.as<T>();
  const problem<double> pd = p.template as<double>();

  // The memory after the warm-up: identity j holds the last anchor labelled j, the others
  // are unwritten (masked).
  problem<double> mem = pd;
  mem.w.assign(std::size_t(pd.C * pd.D), 0.0);
  mem.valid.assign(std::size_t(pd.C), 0);
  for (index_t i = 0; i < pd.B; ++i) {
    for (index_t d = 0; d < pd.D; ++d)
      mem.w[std::size_t(pd.y[i] * pd.D + d)] = pd.x[std::size_t(i * pd.D + d)];
    mem.valid[std::size_t(pd.y[i])] = 1;
  }
  const double want =
      reference::softmax(reference_pairs(pd, refs_mode::weights), s,
                         [](X::ld c) { return c - X::ld(0.4); }) +
      lambda * reference::binary(reference_pairs(mem, refs_mode::masked), {b}, false, true, s, 0.1);

  std::vector<T> gx, gw, gb;
  const double got = double(X::embedded_second_step<T>(s, lambda, b, p, p, &gx, &gw, &gb));
  INFO("loss " << got << " reference " << want);
  CHECK(std::fabs(got - want) <= 4 * X::eps_of<T>() * (std::fabs(want) + 2 * s * (1 + pd.C)));
  CHECK(X::all_finite(gx));
  CHECK(X::all_finite(gw));
  CHECK(X::all_finite(gb));
  REQUIRE(gb.size() == 1);

  // The zero anchor's coordinates take the fine step (see check_part).
  const std::size_t zero0 = std::size_t((pd.B - 1) * pd.D);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<std::size_t> idx;
    for (std::size_t k = 0; k < pd.x.size(); ++k)
      if ((k >= zero0) == (pass == 1)) idx.push_back(k);
    std::vector<double> at, analytic;
    for (std::size_t k : idx) {
      at.push_back(pd.x[k]);
      analytic.push_back(double(gx[k]));
    }
    gradcheck_options o;
    o.tolerance = X::gradient_tolerance<T>();
    if (pass == 1) o.rel_step = 1e-10;
    const auto r = gradcheck(
        [&](std::span<const double> v) {
          problem<double> q = pd;
          for (std::size_t k = 0; k < idx.size(); ++k) q.x[idx[k]] = v[k];
          return double(X::embedded_second_step<double>(s, lambda, b, pd, q));
        },
        at, analytic, o);
    INFO("d/dinput" << (pass == 1 ? " (zero anchor)" : "") << ": " << r.message());
    CHECK(r.passed);
  }
}
