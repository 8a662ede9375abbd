// math::lse_accumulator, the online and mergeable logsumexp. The oracle is the textbook
// two-pass form in long double: m = max_k v_k, then m + log(sum_k e^(v_k - m)), which never
// rescales a running sum. Partial states of the same sequence are merged in several orders
// (left to right, right to left, as a tree, shuffled) and must all give the oracle's value.
#include "unitsface/core/math.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using namespace unitsface;

namespace {

using ld = long double;

template <class T>
ld lse_oracle(const std::vector<T>& v) {
  ld m = -std::numeric_limits<ld>::infinity();
  for (T x : v) m = std::max(m, static_cast<ld>(x));
  if (m == -std::numeric_limits<ld>::infinity()) return m;  // empty, or only -inf
  ld s = 0;
  for (T x : v) s += std::exp(static_cast<ld>(x) - m);
  return m + std::log(s);
}

template <class T>
math::lse_accumulator<T> accumulate(const T* first, const T* last) {
  math::lse_accumulator<T> a;
  for (; first != last; ++first) a.add(*first);
  return a;
}

/// Worst-case rounding of an n-term online sum: each add rounds the sum and an exponential
/// (<= 2 eps relative, n times), the log adds about eps, and the final max + log rounds to
/// eps * |result|. An algorithmic slip (a missing rescale, a wrong branch) is off by O(1).
template <class T>
ld tolerance(std::size_t n, ld want) {
  const ld eps = std::numeric_limits<T>::epsilon();
  return eps * (2 * std::fabs(want) + 3 * static_cast<ld>(n) + 4);
}

/// Seeded values: mostly N(0, 30) (s*cos-sized), with a few of magnitude up to 1e4 so that a
/// plain sum of exponentials would overflow (and -1e4 ones that underflow completely).
template <class T>
std::vector<T> random_values(std::mt19937_64& rng, std::size_t n) {
  std::normal_distribution<double> normal(0.0, 30.0);
  std::uniform_real_distribution<double> big(-1e4, 1e4);
  std::uniform_int_distribution<int> pick(0, 9);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(pick(rng) == 0 ? big(rng) : normal(rng));
  return v;
}

}  // namespace

TEMPLATE_TEST_CASE("the empty logsumexp is -inf and merges as the identity", "[core][math][lse]",
                   float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  const math::lse_accumulator<T> empty;
  CHECK(empty.max == -inf);
  CHECK(empty.sum == T(0));
  CHECK(empty.value() == -inf);

  math::lse_accumulator<T> e2;
  e2.merge(empty);
  CHECK(e2.value() == -inf);
  CHECK(e2.max == -inf);
  CHECK(e2.sum == T(0));

  const std::vector<T> v = {T(1.5), T(-3), T(0.25)};
  const auto filled = accumulate(v.data(), v.data() + v.size());
  // Merging the empty state changes nothing, bit for bit, on either side.
  math::lse_accumulator<T> left = filled;
  left.merge(empty);
  CHECK(left.max == filled.max);
  CHECK(left.sum == filled.sum);
  math::lse_accumulator<T> right;
  right.merge(filled);
  CHECK(right.max == filled.max);
  CHECK(right.sum == filled.sum);
}

TEMPLATE_TEST_CASE("logsumexp of hand-computed sequences", "[core][math][lse]", float, double) {
  using T = TestType;
  const ld eps = std::numeric_limits<T>::epsilon();
  math::lse_accumulator<T> one;
  one.add(T(3.5));
  CHECK(one.value() == T(3.5));  // log(e^3.5) with sum exactly 1

  // n equal values: v + log(n), in either order of arrival.
  for (T v : {T(-1e4), T(-7), T(0), T(128), T(1e4)}) {
    math::lse_accumulator<T> a;
    for (int k = 0; k < 8; ++k) a.add(v);
    CAPTURE(v);
    CHECK(std::fabs(a.value() - (static_cast<ld>(v) + std::log(8.0L))) <=
          eps * (std::fabs(static_cast<ld>(v)) + 4));
  }
  // log(e^0 + e^(ln 3)) = ln 4, with the larger value first and second.
  const T ln3 = static_cast<T>(std::log(3.0L));
  for (bool larger_first : {true, false}) {
    math::lse_accumulator<T> a;
    if (larger_first) {
      a.add(ln3);
      a.add(T(0));
    } else {
      a.add(T(0));
      a.add(ln3);
    }
    CAPTURE(larger_first);
    CHECK(std::fabs(a.value() - std::log(4.0L)) <= 4 * eps);
  }
  // Values 2e4 apart: the smaller one vanishes, and nothing overflows.
  math::lse_accumulator<T> far;
  far.add(T(-1e4));
  far.add(T(1e4));
  CHECK(far.value() == T(1e4));
}

TEMPLATE_TEST_CASE("logsumexp by add matches the two-pass oracle", "[core][math][lse]", float,
                   double) {
  using T = TestType;
  std::mt19937_64 rng(0x15e);
  for (std::size_t n : {1, 2, 3, 7, 64, 500}) {
    for (int order = 0; order < 3; ++order) {
      auto v = random_values<T>(rng, n);
      // Ascending input rescales the running sum at every step; descending never does.
      if (order == 1) std::sort(v.begin(), v.end());
      if (order == 2) std::sort(v.rbegin(), v.rend());
      const ld want = lse_oracle(v);
      const auto a = accumulate(v.data(), v.data() + v.size());
      CAPTURE(n, order, a.value(), static_cast<double>(want));
      CHECK(std::isfinite(a.value()));
      CHECK(std::fabs(a.value() - want) <= tolerance<T>(n, want));
      // The state's own invariant: max is the largest value, and 1 <= sum <= n.
      CHECK(a.max == *std::max_element(v.begin(), v.end()));
      CHECK(a.sum >= T(1));
      CHECK(a.sum <= static_cast<T>(n) * (1 + 4 * std::numeric_limits<T>::epsilon()));
    }
  }
}

TEMPLATE_TEST_CASE("merged partial logsumexps equal the whole in every split and order",
                   "[core][math][lse]", float, double) {
  using T = TestType;
  std::mt19937_64 rng(0x3e9e);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t n = 1 + rng() % 300;
    const auto v = random_values<T>(rng, n);
    const ld want = lse_oracle(v);
    // Up to 8 parts at random cut points; repeated cuts make empty parts.
    std::vector<std::size_t> cuts = {0, n};
    const std::size_t parts = 1 + rng() % 8;
    for (std::size_t k = 1; k < parts; ++k) cuts.push_back(rng() % (n + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<math::lse_accumulator<T>> part;
    for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
      part.push_back(accumulate(v.data() + cuts[k], v.data() + cuts[k + 1]));
    }
    const ld tol = tolerance<T>(n + part.size(), want);
    CAPTURE(trial, n, part.size(), static_cast<double>(want));

    math::lse_accumulator<T> l2r;
    for (const auto& p : part) l2r.merge(p);
    CHECK(std::fabs(l2r.value() - want) <= tol);

    math::lse_accumulator<T> r2l;
    for (auto it = part.rbegin(); it != part.rend(); ++it) r2l.merge(*it);
    CHECK(std::fabs(r2l.value() - want) <= tol);

    // Pairwise tree, as an all-reduce does.
    auto tree = part;
    while (tree.size() > 1) {
      std::vector<math::lse_accumulator<T>> next;
      for (std::size_t k = 0; k + 1 < tree.size(); k += 2) {
        next.push_back(tree[k]);
        next.back().merge(tree[k + 1]);
      }
      if (tree.size() % 2) next.push_back(tree.back());
      tree = std::move(next);
    }
    CHECK(std::fabs(tree.front().value() - want) <= tol);

    auto shuffled = part;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    math::lse_accumulator<T> any;
    for (const auto& p : shuffled) any.merge(p);
    CHECK(std::fabs(any.value() - want) <= tol);
    // Merging keeps the same invariant as add: max is the largest value.
    CHECK(any.max == *std::max_element(v.begin(), v.end()));
  }
}

TEMPLATE_TEST_CASE("logsumexp merge is associative and commutative", "[core][math][lse]", float,
                   double) {
  using T = TestType;
  std::mt19937_64 rng(0xa55);
  for (int trial = 0; trial < 50; ++trial) {
    math::lse_accumulator<T> s[3];
    std::vector<T> all;
    for (auto& a : s) {
      const auto v = random_values<T>(rng, rng() % 20);  // empty parts included
      a = accumulate(v.data(), v.data() + v.size());
      all.insert(all.end(), v.begin(), v.end());
    }
    auto ab_c = s[0];
    ab_c.merge(s[1]);
    ab_c.merge(s[2]);
    auto bc = s[1];
    bc.merge(s[2]);
    auto a_bc = s[0];
    a_bc.merge(bc);
    auto ba = s[1];
    ba.merge(s[0]);
    auto ab = s[0];
    ab.merge(s[1]);
    const ld want = lse_oracle(all);
    CAPTURE(trial, all.size());
    if (all.empty()) {
      CHECK(ab_c.value() == -std::numeric_limits<T>::infinity());
      CHECK(a_bc.value() == -std::numeric_limits<T>::infinity());
      continue;
    }
    const ld tol = tolerance<T>(all.size() + 3, want);
    CHECK(std::fabs(ab_c.value() - static_cast<ld>(a_bc.value())) <= tol);
    CHECK(std::fabs(ab_c.value() - want) <= tol);
    CHECK(std::fabs(ab.value() - static_cast<ld>(ba.value())) <= tol);
  }
}

TEMPLATE_TEST_CASE("merging a one-value state is adding that value", "[core][math][lse]", float,
                   double) {
  using T = TestType;
  std::mt19937_64 rng(0x0e);
  for (int trial = 0; trial < 100; ++trial) {
    const auto v = random_values<T>(rng, 1 + rng() % 10);
    const T x = random_values<T>(rng, 1)[0];
    auto by_add = accumulate(v.data(), v.data() + v.size());
    auto by_merge = by_add;
    by_add.add(x);
    math::lse_accumulator<T> single;
    single.add(x);
    by_merge.merge(single);
    CAPTURE(trial, x);
    CHECK(by_merge.max == by_add.max);
    const T eps = std::numeric_limits<T>::epsilon();
    CHECK(std::fabs(by_merge.sum - by_add.sum) <= 2 * eps * by_add.sum);
  }
}

TEMPLATE_TEST_CASE("entries of -inf contribute nothing", "[core][math][lse]", float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  const std::vector<T> v = {T(2), T(-1), T(0.5)};
  const ld want = lse_oracle(v);
  const T eps = std::numeric_limits<T>::epsilon();

  // After finite values, -inf adds e^-inf = 0: the state is unchanged.
  auto a = accumulate(v.data(), v.data() + v.size());
  const auto before = a;
  a.add(-inf);
  a.add(-inf);
  CHECK(a.max == before.max);
  CHECK(a.sum == before.sum);
  CHECK(std::fabs(a.value() - want) <= 8 * eps);

  // A state that saw only -inf entries has the value -inf, and merges as the empty state.
  math::lse_accumulator<T> minf;
  minf.add(-inf);
  minf.add(-inf);
  CHECK(minf.value() == -inf);
  auto left = before;
  left.merge(minf);
  CHECK(left.max == before.max);
  CHECK(left.sum == before.sum);
  auto right = minf;
  right.merge(before);
  CHECK(right.max == before.max);
  CHECK(right.sum == before.sum);
  CHECK(std::fabs(right.value() - want) <= 8 * eps);

  // -inf first, then finite values: add() must agree with merge() and the oracle.
  math::lse_accumulator<T> first_minf;
  first_minf.add(-inf);
  for (T x : v) first_minf.add(x);
  CHECK(std::fabs(first_minf.value() - want) <= 8 * eps);
  math::lse_accumulator<T> one;
  one.add(-inf);
  one.add(T(1));
  CHECK(one.value() == T(1));
}

TEMPLATE_TEST_CASE("a +inf entry makes the logsumexp +inf", "[core][math][lse]", float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  math::lse_accumulator<T> a;
  a.add(T(1));
  a.add(inf);
  a.add(T(-3));
  CHECK(a.value() == inf);
  math::lse_accumulator<T> b;
  b.add(T(4));
  b.merge(a);
  CHECK(b.value() == inf);
}
