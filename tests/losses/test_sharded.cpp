// The loss calls of unitsface::distributed in one process (distributed::single_process): the
// sharded code path (statistics merged, row terms counted by rank 0, partial gradients summed,
// checks made collectively) with one rank must give exactly the plain calls' results, on
// every backend. Several processes: tests/distributed (MPI).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "loss_cases.hpp"
#include "thrown_argument.hpp"
#include "unitsface/distributed.hpp"
#include "unitsface/losses.hpp"

namespace sharded_tests {

using namespace unitsface;
using namespace unitsface::losses;
using namespace unitsface::test;
namespace dist = unitsface::distributed;

template <class T>
struct call_results {
  T loss = T(0);
  std::vector<T> per_anchor, gx, gw, gb, bias_used;
  bool operator==(const call_results&) const = default;
};

template <class T>
references<T> refs_for(const device_problem<T>& d, refs_mode mode) {
  return mode == refs_mode::weights  ? references<T>::weights(d.rows())
         : mode == refs_mode::memory ? references<T>::memory(d.rows())
                                     : references<T>::memory(d.rows(), d.valid_flags());
}

/// forward_backward (then forward) of `L`, plain or through a single_process communicator.
template <class T, class Loss>
call_results<T> run(Loss& L, const problem<T>& p, refs_mode mode, bool sharded) {
  const auto& pol = policy();
  const device_problem<T> d(p);
  const bool weights = mode == refs_mode::weights;
  auto gx = backends::make_buffer<T>(pol, p.B * p.D);
  auto gw = backends::make_buffer<T>(pol, weights ? p.C * p.D : 0);
  auto per = backends::make_buffer<T>(pol, p.B);
  const gradients<T> g(
      matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
      weights ? matrix_view<T>(backends::data_ptr(gw), p.C, p.D) : matrix_view<T>{});
  const vector_view<T> pv(backends::data_ptr(per), p.B);
  const references<T> refs = refs_for(d, mode);
  dist::single_process<policy_type> one(pol);
  const loss_result<T> r =
      sharded ? dist::forward_backward(one, pol, L, d.input(), d.labels(),
                                       refs.shard(dist::class_shard{0, p.C, p.C}), g, {}, pv)
              : L.forward_backward(pol, d.input(), d.labels(), refs, g, {}, pv);
  call_results<T> out;
  out.loss = r.loss;
  out.per_anchor = download<T>(backends::data_ptr(per), p.B);
  out.gx = download<T>(backends::data_ptr(gx), p.B * p.D);
  out.gw = download<T>(backends::data_ptr(gw), weights ? p.C * p.D : 0);
  out.gb = r.grad_bias;
  out.bias_used = r.bias_used;
  // The forward call too (the second call: after a data-dependent initialisation).
  const T f = sharded ? dist::forward(one, pol, L, d.input(), d.labels(),
                                      refs.shard(dist::class_shard{0, p.C, p.C}))
                      : L.forward(pol, d.input(), d.labels(), refs);
  out.per_anchor.push_back(f);
  return out;
}

template <class T, class Make>
void same_as_plain(Make make, refs_mode mode) {
  const problem<T> p = make_problem<T>(9, 13, 6, 73);
  auto plain = make();
  auto sharded = make();
  for (int k = 0; k < 2; ++k) {
    INFO("call " << k);
    CHECK(run(sharded, p, mode, true) == run(plain, p, mode, false));
  }
}

}  // namespace sharded_tests

TEMPLATE_TEST_CASE("distributed: one process through the sharded path gives the plain results",
                   "[losses][distributed]", float, double) {
  using T = TestType;
  using namespace sharded_tests;
  binary_options<T> o;
  o.s = T(16);
  SECTION("USS-m, data-dependent scalar bias") {
    same_as_plain<T>([&] { return uss_loss<T>(o); }, refs_mode::masked);
  }
  SECTION("SS-BCE, a bias per identity") {
    same_as_plain<T>([&] { return ss_bce_loss<T>(13, o); }, refs_mode::masked);
  }
  SECTION("BCE head") {
    same_as_plain<T>([&] { return bce_head<T>(13); }, refs_mode::weights);
  }
  SECTION("CosFace") {
    same_as_plain<T>([&] { return cosface_loss<T>(cosface_options<T>(T(0.35), T(16))); },
                     refs_mode::weights);
  }
  SECTION("sample-to-sample softmax, two statistics passes") {
    same_as_plain<T>(
        [&] {
          ss_softmax_options<T> so;
          so.s = T(16);
          return ss_softmax_loss<T>(so);
        },
        refs_mode::memory);
  }
}

TEMPLATE_TEST_CASE("distributed: an embedded step through the sharded path gives the plain one",
                   "[losses][distributed]", float, double) {
  using T = TestType;
  using namespace sharded_tests;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(8, 11, 5, 5);
  const device_problem<T> d(p);
  embedded_loss<T> plain, sharded;
  feature_memory<T, policy_type> mem_plain(p.C, p.D, {}, pol);
  feature_memory<T, policy_type> mem_sharded(dist::class_shard{0, p.C, p.C}, p.D, {}, pol);
  dist::single_process<policy_type> one(pol);
  for (index_t epoch = 0; epoch < 3; ++epoch) {
    INFO("epoch " << epoch);
    auto gx1 = backends::make_buffer<T>(pol, p.B * p.D), gx2 = gx1;
    auto gw1 = backends::make_buffer<T>(pol, p.C * p.D), gw2 = gw1;
    const gradients<T> g1(matrix_view<T>(backends::data_ptr(gx1), p.B, p.D),
                          matrix_view<T>(backends::data_ptr(gw1), p.C, p.D));
    const gradients<T> g2(matrix_view<T>(backends::data_ptr(gx2), p.B, p.D),
                          matrix_view<T>(backends::data_ptr(gw2), p.C, p.D));
    const auto a = plain.step(pol, d.input(), d.labels(), d.rows(), g1, mem_plain, epoch);
    const auto b = dist::step(one, pol, sharded, d.input(), d.labels(), d.rows(),
                              dist::class_shard{0, p.C, p.C}, g2, mem_sharded, epoch);
    CHECK(b.loss == a.loss);
    CHECK(b.grad_bias == a.grad_bias);
    CHECK(download<T>(backends::data_ptr(gx2), p.B * p.D) ==
          download<T>(backends::data_ptr(gx1), p.B * p.D));
    CHECK(download<T>(backends::data_ptr(gw2), p.C * p.D) ==
          download<T>(backends::data_ptr(gw1), p.C * p.D));
    CHECK(download<T>(mem_sharded.rows().data, p.C * p.D) ==
          download<T>(mem_plain.rows().data, p.C * p.D));
  }
}

TEST_CASE("distributed: shards of the classes", "[losses][distributed]") {
  namespace dist = unitsface::distributed;
  using unitsface::index_t;
  // 10 classes over 4 ranks: 3, 3, 2, 2 (the first 10 % 4 ranks hold one more).
  const index_t firsts[] = {0, 3, 6, 8}, counts[] = {3, 3, 2, 2};
  for (int r = 0; r < 4; ++r) {
    const dist::class_shard s = dist::even_shard(10, 4, r);
    CHECK(s.first == firsts[r]);
    CHECK(s.count == counts[r]);
    CHECK(s.total == 10);
  }
  CHECK(dist::even_shard(2, 3, 2).count == 0);  // more ranks than classes: one holds none
  const index_t bounds[] = {0, 4, 4, 9};
  CHECK(dist::shard_from_bounds(bounds, 1).count == 0);
  CHECK(dist::shard_from_bounds(bounds, 2).first == 4);
  CHECK(unitsface::test::thrown_argument([] { dist::even_shard(10, 4, 4); }) == "rank");
  CHECK(unitsface::test::thrown_argument([] { dist::even_shard(0, 4, 0); }) == "total");
  const index_t falling[] = {0, 5, 3, 9};
  CHECK(unitsface::test::thrown_argument([&] { dist::shard_from_bounds(falling, 0); }) == "bounds");
  CHECK(unitsface::test::thrown_argument([&] { dist::shard_from_bounds(bounds, 3); }) == "rank");
}

TEMPLATE_TEST_CASE("distributed: a memory shard writes the rows of its own identities",
                   "[losses][distributed]", float, double) {
  using T = TestType;
  const auto& pol = unitsface::test::policy();
  using unitsface::index_t;
  const auto p = unitsface::test::make_problem<T>(8, 11, 5, 21);
  const unitsface::test::device_problem<T> d(p);
  unitsface::losses::feature_memory<T, unitsface::test::policy_type> whole(p.C, p.D, {}, pol);
  const unitsface::losses::class_range shard{2, 4, p.C};
  unitsface::losses::feature_memory<T, unitsface::test::policy_type> part(shard, p.D, {}, pol);
  whole.update(d.input(), d.labels());
  part.update(d.input(), d.labels());
  const auto all = unitsface::test::download<T>(whole.rows().data, p.C * p.D);
  CHECK(unitsface::test::download<T>(part.rows().data, shard.count * p.D) ==
        std::vector<T>(all.begin() + shard.first * p.D, all.begin() + shard.end() * p.D));
  const auto refs = part.as_references();
  CHECK(refs.label_offset == 2);
  CHECK(refs.classes() == p.C);
  // A shard that does not fit is refused by name; labels are checked against the whole.
  CHECK(unitsface::test::thrown_argument([&] {
          unitsface::losses::feature_memory<T, unitsface::test::policy_type> bad(
              unitsface::losses::class_range{8, 4, p.C}, p.D, {}, pol);
        }) == "identities");
}
