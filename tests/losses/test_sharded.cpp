// The loss calls of unitsface::distributed in one process (distributed::single_process): the
// sharded code path (statistics merged, row terms counted by rank 0, partial gradients summed,
// checks made collectively) with one rank must give exactly the plain calls' results, on
// every backend. Several processes: tests/distributed (MPI).
#include <algorithm>
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

TEMPLATE_TEST_CASE("distributed: sampled negatives keep every positive and about rate x the rest",
                   "[losses][distributed]", float, double) {
  using T = TestType;
  using namespace sharded_tests;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(16, 2000, 4, 9);
  const device_problem<T> d(p);
  const references<T> refs = references<T>::weights(d.rows()).shard(dist::class_shard{0, p.C, p.C});
  const dist::sampling_options o{0.1, 77};
  dist::sampled_shard<T, policy_type> a(pol, refs, d.labels(), o, 5);
  std::vector<index_t> labels = p.y;
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  for (index_t y : labels) {
    CHECK(std::binary_search(a.classes().begin(), a.classes().end(), y));
  }
  // Binomial(1991, 0.1) negatives: mean 199, sd 13.4; [140, 260] is beyond 4 sd.
  const index_t negatives = a.kept() - index_t(labels.size());
  CHECK(negatives >= 140);
  CHECK(negatives <= 260);
  // The same seed and step: the same classes; another step: others.
  dist::sampled_shard<T, policy_type> again(pol, refs, d.labels(), o, 5);
  dist::sampled_shard<T, policy_type> next(pol, refs, d.labels(), o, 6);
  CHECK(again.classes() == a.classes());
  CHECK(next.classes() != a.classes());
  // The kept rows are the rows of the kept classes.
  const auto rows = download<T>(a.references().rows.data, a.kept() * p.D);
  for (index_t k = 0; k < a.kept(); k += 37) {
    const index_t c = a.classes()[std::size_t(k)];
    CHECK(std::vector<T>(rows.begin() + k * p.D, rows.begin() + (k + 1) * p.D) ==
          std::vector<T>(p.w.begin() + c * p.D, p.w.begin() + (c + 1) * p.D));
  }
  // Refused by name: a rate outside (0, 1]; the plain loss calls on sampled rows; a per-class
  // bias, which reads its bias by row.
  CHECK(unitsface::test::thrown_argument([&] {
          dist::sampled_shard<T, policy_type>(pol, refs, d.labels(), dist::sampling_options{0.0, 1},
                                              0);
        }) == "rate");
  cosface_loss<T> L(cosface_options<T>(T(0.35), T(16)));
  CHECK(unitsface::test::thrown_argument(
            [&] { L.forward(pol, d.input(), d.labels(), a.references()); }) == "references");
  bce_head<T> H(p.C);
  dist::single_process<policy_type> one(pol);
  CHECK(unitsface::test::thrown_argument([&] {
          dist::forward(one, pol, H, d.input(), d.labels(), a.references());
        }) == "references");
  // At rate 1 every class is kept and the loss is the plain one.
  dist::sampled_shard<T, policy_type> full(pol, refs, d.labels(), dist::sampling_options{1.0, 1},
                                           0);
  CHECK(full.kept() == p.C);
  CHECK(dist::forward(one, pol, L, d.input(), d.labels(), full.references()) ==
        L.forward(pol, d.input(), d.labels(), references<T>::weights(d.rows())));
}

#if defined(UNITSFACE_TEST_BACKEND_HOST)
#include <memory>

#include "unitsface/distributed/memory_estimate.hpp"

namespace sharded_tests {

/// The bytes that the policy's buffers hold now, and their peak.
struct byte_count {
  static inline std::size_t live = 0, peak = 0;
};

template <class T>
struct counting_allocator {
  using value_type = T;
  counting_allocator() = default;
  template <class U>
  counting_allocator(const counting_allocator<U>&) {}
  T* allocate(std::size_t n) {
    byte_count::live += n * sizeof(T);
    byte_count::peak = std::max(byte_count::peak, byte_count::live);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) {
    byte_count::live -= n * sizeof(T);
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counting_allocator<U>&) const {
    return true;
  }
};

/// The host policy whose buffers count their bytes: the library's working memory, measured.
struct byte_counting_policy : unitsface::host_policy {
  template <class T>
  std::vector<T, counting_allocator<T>> make_buffer(unitsface::index_t n) const {
    return std::vector<T, counting_allocator<T>>(static_cast<std::size_t>(n));
  }
};

}  // namespace sharded_tests

TEMPLATE_TEST_CASE("distributed: the memory estimate bounds the measured working memory",
                   "[losses][distributed]", float, double) {
  using T = TestType;
  using namespace sharded_tests;
  namespace dist = unitsface::distributed;
  // The caller's arrays are plain vectors (not counted); what the policy allocates during a
  // forward_backward is the library's working memory, whose peak the estimate must bound
  // from above, and not by much.
  struct shape {
    index_t B, C, D, tile;
    bool weights;
    dist::bias_kind bias;
    double rate;
  };
  // (the second: five tiles, whose cosines the statistics pass keeps for the element pass)
  const shape shapes[] = {{32, 300, 16, 0, true, dist::bias_kind::none, 1.0},
                          {32, 300, 16, 64, true, dist::bias_kind::none, 1.0},
                          {16, 500, 24, 64, true, dist::bias_kind::per_class, 1.0},
                          {24, 200, 8, 0, false, dist::bias_kind::scalar, 1.0},
                          {32, 3000, 16, 0, true, dist::bias_kind::none, 0.2}};
  for (const shape& sh : shapes) {
    INFO("B " << sh.B << ", C " << sh.C << ", D " << sh.D);
    const problem<T> p = make_problem<T>(sh.B, sh.C, sh.D, 3);
    const matrix_view<const T> x(p.x.data(), p.B, p.D), w(p.w.data(), p.C, p.D);
    const vector_view<const index_t> y(p.y.data(), p.B);
    std::vector<T> gx(std::size_t(p.B * p.D)), gw(std::size_t(p.C * p.D));
    const gradients<T> g(matrix_view<T>(gx.data(), p.B, p.D),
                         sh.weights ? matrix_view<T>(gw.data(), p.C, p.D) : matrix_view<T>{});
    const references<T> refs =
        (sh.weights ? references<T>::weights(w) : references<T>::memory(w, p.valid.data()))
            .shard(dist::class_shard{0, p.C, p.C});
    byte_counting_policy pol;
    dist::single_process<byte_counting_policy> one(pol);
    byte_count::live = byte_count::peak = 0;
    if (sh.rate < 1.0) {
      softmax_options<T, cosface_margin<T>> o = cosface_options<T>(T(0.35), T(16));
      cosface_loss<T> L(o);
      dist::sampled_shard<T, byte_counting_policy> sampled(pol, refs, y,
                                                           dist::sampling_options{sh.rate, 1}, 0);
      const gradients<T> gs(g.input, sampled.gradient());
      dist::forward_backward(one, pol, L, x, y, sampled.references(), gs);
    } else if (sh.bias == dist::bias_kind::none) {
      softmax_options<T, cosface_margin<T>> o = cosface_options<T>(T(0.35), T(16));
      o.tile_columns = sh.tile;
      cosface_loss<T> L(o);
      dist::forward_backward(one, pol, L, x, y, refs, g);
    } else {
      binary_options<T> o;
      o.s = T(16);
      o.tile_columns = sh.tile;
      binary_loss<T> L(o, sh.bias == dist::bias_kind::per_class, p.C, T(0));
      dist::forward_backward(one, pol, L, x, y, refs, g);
    }
    const std::size_t measured = byte_count::peak;
    dist::shard_problem sp;
    sp.batch = p.B;
    sp.classes = p.C;
    sp.dim = p.D;
    sp.references = sh.weights ? reference_kind::class_weights : reference_kind::memory;
    sp.bias = sh.bias;
    sp.tile_columns = sh.tile;
    sp.sample_rate = sh.rate;
    // CosFace's statistics pass, and the binary losses' data-dependent initialisation of
    // their zero biases (a statistics pass): both keep the cosines of several tiles
    sp.statistics = true;
    const dist::memory_estimate e = dist::estimate_memory<T>(sp);
    INFO("measured " << measured << " B, estimated " << e.working << " B");
    CHECK(measured > 0);
    CHECK(e.working >= measured);
    CHECK(double(e.working) <= 1.25 * double(measured));
  }
  // More ranks: the largest shard of the even split, and the exchange grows with the ranks.
  dist::shard_problem big;
  big.batch = 512;
  big.classes = 85742;
  big.dim = 512;
  big.ranks = 4;
  const dist::memory_estimate e4 = dist::estimate_memory<T>(big);
  CHECK(e4.shard_classes == 21436);
  CHECK(e4.references == std::size_t(21436) * 512 * sizeof(T));
  CHECK(e4.exchange > std::size_t(4) * 512 * 512 * sizeof(T));
  // A rank without classes (3 classes over 4 ranks) still holds the batch and the exchange.
  dist::shard_problem none = big;
  none.classes = 3;
  none.rank = 3;
  const dist::memory_estimate e0 = dist::estimate_memory<T>(none);
  CHECK(e0.shard_classes == 0);
  CHECK(e0.references == 0);
  CHECK(e0.working >= e0.exchange + std::size_t(512) * 512 * sizeof(T));
  CHECK(unitsface::test::thrown_argument([&] {
          dist::shard_problem bad = big;
          bad.rank = 4;
          dist::estimate_memory<T>(bad);
        }) == "rank");
}

TEMPLATE_TEST_CASE("losses: required_bytes bounds the measured working memory of every loss",
                   "[losses][memory]", float, double) {
  using T = TestType;
  using namespace sharded_tests;
  // Each loss family, each reference kind, with and without gradients, one tile or several
  // (whose cosines a statistics pass keeps): the estimate must bound the peak of what the
  // policy allocates during the call from above, and not by much.
  const problem<T> p = make_problem<T>(32, 300, 16, 5);
  const matrix_view<const T> x(p.x.data(), p.B, p.D), w(p.w.data(), p.C, p.D);
  const vector_view<const index_t> y(p.y.data(), p.B);
  std::vector<T> gx(std::size_t(p.B * p.D)), gw(std::size_t(p.C * p.D));
  const gradients<T> g(matrix_view<T>(gx.data(), p.B, p.D), matrix_view<T>(gw.data(), p.C, p.D));
  const gradients<T> g_input(matrix_view<T>(gx.data(), p.B, p.D));
  byte_counting_policy pol;
  const auto check = [&](const char* what, std::size_t estimate, auto&& call) {
    byte_count::live = byte_count::peak = 0;
    call();
    const std::size_t measured = byte_count::peak;
    INFO(what << ": measured " << measured << " B, estimated " << estimate << " B");
    CHECK(measured > 0);
    CHECK(estimate >= measured);
    CHECK(double(estimate) <= 1.25 * double(measured));
  };
  const auto size = [&](reference_kind k, bool grads) {
    call_size c;
    c.batch = p.B;
    c.dim = p.D;
    c.references = k;
    c.reference_rows = k == reference_kind::in_batch ? 0 : p.C;
    c.gradients = grads;
    return c;
  };
  const references<T> weights = references<T>::weights(w);
  const references<T> memory = references<T>::memory(w, p.valid.data());
  for (index_t tile : {index_t(0), index_t(64)}) {
    INFO("tile_columns " << tile);
    auto co = cosface_options<T>(T(0.35), T(16));
    co.tile_columns = tile;
    cosface_loss<T> cosface(co);
    check("CosFace, weight gradient",
          required_bytes(cosface, size(reference_kind::class_weights, true)),
          [&] { cosface.forward_backward(pol, x, y, weights, g); });
    check("CosFace, forward", required_bytes(cosface, size(reference_kind::class_weights, false)),
          [&] { cosface.forward(pol, x, y, weights); });
    ss_softmax_options<T> so;
    so.tile_columns = tile == 0 ? 0 : 8;  // in-batch: 32 references, 4 tiles
    ss_softmax_loss<T> ss(so);
    check("ss_softmax, in-batch", required_bytes(ss, size(reference_kind::in_batch, true)),
          [&] { ss.forward_backward(pol, x, y, references<T>::in_batch(), g_input); });
    binary_options<T> bo;
    bo.s = T(16);
    bo.tile_columns = tile;
    uss_loss<T> uss(bo);  // bias 0: initialised from the data, a statistics pass
    check("USS-m, memory", required_bytes(uss, size(reference_kind::memory, true)),
          [&] { uss.forward_backward(pol, x, y, memory, g_input); });
    // Its bias now initialised, the next call makes no statistics pass and keeps no cosine.
    REQUIRE(uss.bias() > T(0));
    check("USS-m, memory, bias set", required_bytes(uss, size(reference_kind::memory, true)),
          [&] { uss.forward_backward(pol, x, y, memory, g_input); });
    bo.init = bias_init::fixed;
    bo.tile_columns = tile == 0 ? 0 : 8;
    uss_loss<T> uss_fixed(bo);
    check("USS-m, in-batch", required_bytes(uss_fixed, size(reference_kind::in_batch, true)),
          [&] { uss_fixed.forward_backward(pol, x, y, references<T>::in_batch(), g_input); });
    bo.tile_columns = tile;
    bo.form = uss_form::log_of_sums;
    uss_loss<T> uss_sums(bo);
    uss_sums.set_bias(T(1));
    check("USS log-of-sums, memory", required_bytes(uss_sums, size(reference_kind::memory, true)),
          [&] { uss_sums.forward_backward(pol, x, y, memory, g_input); });
    binary_options<T> ho = head_options<T>();
    ho.tile_columns = tile;
    bce_head<T> bce(p.C, ho);
    check("BCE head, weight gradient",
          required_bytes(bce, size(reference_kind::class_weights, true)),
          [&] { bce.forward_backward(pol, x, y, weights, g); });
    uce_head<T> uce(p.C, ho);
    check("UCE head, forward", required_bytes(uce, size(reference_kind::class_weights, false)),
          [&] { uce.forward(pol, x, y, weights); });
    binary_options<T> sb;
    sb.tile_columns = tile;
    ss_bce_loss<T> ssbce(p.C, sb);
    check("SS-BCE, memory", required_bytes(ssbce, size(reference_kind::memory, true)),
          [&] { ssbce.forward_backward(pol, x, y, memory, g_input); });
  }
  // The memory with its normalised mirror (no reference tile normalised), and the embedded
  // step, which runs its two calls one after the other.
  feature_memory<T, byte_counting_policy> mem(p.C, p.D, {}, pol);
  mem.update(x, y);
  uss_loss<T> uss;
  call_size mirrored = size(reference_kind::memory, true);
  mirrored.normalized_references = true;
  check("USS-m, the memory's mirror", required_bytes(uss, mirrored),
        [&] { uss.forward_backward(pol, x, y, mem.as_references(), g_input); });
  embedded_loss<T> emb;
  check("embedded step", required_bytes(emb, size(reference_kind::class_weights, true), mirrored),
        [&] { emb.step(pol, x, y, w, g, mem, 1); });
  // Calls that cannot be sized are refused by name.
  call_size bad = size(reference_kind::class_weights, true);
  bad.reference_rows = 0;
  CHECK(unitsface::test::thrown_argument([&] { required_bytes(uss, bad); }) == "reference_rows");
  bad = size(reference_kind::in_batch, true);
  bad.batch = 0;
  CHECK(unitsface::test::thrown_argument([&] { required_bytes(uss, bad); }) == "batch");
}
#endif

TEMPLATE_TEST_CASE("losses: required_bytes on the policy counts its tile and its rows' segments",
                   "[losses][memory]", float, double) {
  using T = TestType;
  const auto& pol = policy();
  // The device rule: a multiple of a warp, each thread 16 to 32 columns of a tile, 1,024 at
  // most, 32 for any tile of two columns or more.
  CHECK(backends::device_row_segments(1) == 1);
  CHECK(backends::device_row_segments(2) == 32);
  CHECK(backends::device_row_segments(1023) == 32);
  CHECK(backends::device_row_segments(1024) == 64);
  CHECK(backends::device_row_segments(8192) == 512);
  CHECK(backends::device_row_segments(65536) == 1024);
  CHECK(backends::device_row_segments(index_t(1) << 30) == 1024);
  call_size c;
  c.batch = 32;
  c.dim = 16;
  c.references = reference_kind::class_weights;
  c.reference_rows = 300;
  const call_size on = on_policy(pol, c);
  CHECK(on.tile_elements == backends::default_tile_elements<policy_type>());
  const bool splits = backends::row_segments(pol, c.batch, c.reference_rows) > 1;
  CHECK(on.row_segments == splits);
  // A one-tile CosFace call: the slots of its statistics pass (B x 32 softmax statistics) and
  // of its element pass (2 B x 32 values) where the policy splits rows (a device), nothing
  // otherwise; and there the weights normalised into a tile (N x D) where the CPUs keep their
  // inverse norms (N: tile_driver::uses_raw_references).
  cosface_loss<T> cosface;
  using stats = typename kernels::softmax<T, cosface_margin<T>>::stats;
  const std::size_t slots = std::size_t(c.batch * 32) * (sizeof(stats) + 2 * sizeof(T));
  const std::size_t tile = std::size_t(c.reference_rows * c.dim - c.reference_rows) * sizeof(T);
  CHECK(required_bytes(cosface, on) == required_bytes(cosface, c) + (splits ? slots + tile : 0));
}
