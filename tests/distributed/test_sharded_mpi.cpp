// Every loss over class shards in separate MPI processes equals the single-process loss.
//
// CTest runs this program under `mpirun -np 1`, 2, 3 and 4 (tests/distributed/CMakeLists.txt).
// Every rank builds the same seeded problem, evaluates the loss on the whole set of classes
// alone (the oracle: the plain single-process call) and over its shard through the MPI
// communicator, and compares: the loss and the per-anchor losses, d loss / d x, its rows of
// d loss / d W, the bias gradient and the bias after the data-dependent initialisation, and,
// for the embedded loss, its memory shard after each step. Two splits: the even one, and an
// uneven one where rank 1 holds no class (from 3 ranks on) and the last ranks hold no label
// of the batch. Only CHECK is used after a collective call: a REQUIRE that stopped one rank
// would leave the others waiting.
#define CATCH_CONFIG_RUNNER
#include <mpi.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "backends.hpp"
#include "thrown_argument.hpp"
#include "unitsface/distributed.hpp"
#include "unitsface/distributed/mpi.hpp"
#include "unitsface/losses.hpp"
#include "unitsface/protocols/all_pairs.hpp"
#include "unitsface/protocols/synthetic.hpp"
#if defined(UNITSFACE_TEST_BACKEND_CUDA)
#include "unitsface/distributed/nccl.hpp"
#endif

using namespace unitsface;
using namespace unitsface::losses;
using unitsface::test::download;
using unitsface::test::policy;
using unitsface::test::thrown_argument;
using unitsface::test::upload;
namespace dist = unitsface::distributed;

namespace {

#if defined(UNITSFACE_TEST_BACKEND_CUDA)
// On the CUDA backend (cuda/distributed_nccl.cu) the ranks exchange device buffers through
// NCCL, on the policy's (default) stream; MPI only hands rank 0's NCCL id to the others.
using comm_type = dist::nccl_communicator;
comm_type& communicator() {
  static comm_type comm = [] {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ncclUniqueId id;
    if (rank == 0) ncclGetUniqueId(&id);
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclComm_t c = nullptr;
    if (ncclCommInitRank(&c, size, id, rank) != ncclSuccess) {
      std::fprintf(stderr, "rank %d: ncclCommInitRank failed\n", rank);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return comm_type(c, nullptr);
  }();
  return comm;
}
#else
using comm_type = dist::mpi_communicator;
comm_type& communicator() {
  static comm_type comm;
  return comm;
}
#endif

/// The bound of the comparisons: 1e-12 (double), 1e-5 (float), relative to the largest
/// magnitude of the single-process values (and at least 1).
template <class T>
double tolerance() {
  return std::is_same_v<T, double> ? 1e-12 : 1e-5;
}

template <class T>
double max_rel_diff(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double scale = 1.0, worst = 0.0;
  for (T v : want) scale = std::max(scale, std::abs(double(v)));
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double d = std::abs(double(got[k]) - double(want[k]));
    worst = std::max(worst, std::isfinite(d) ? d : std::numeric_limits<double>::infinity());
  }
  return worst / scale;
}

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

/// The uneven split: rank 0 holds 2 classes, rank 1 none (from 3 ranks on), each further
/// rank half of what is left, the last the rest.
std::vector<index_t> uneven_bounds(index_t C, int R) {
  std::vector<index_t> b{0};
  if (R == 1) {
    b.push_back(C);
    return b;
  }
  b.push_back(std::min<index_t>(2, C));
  for (int r = 1; r < R - 1; ++r) b.push_back(r == 1 ? b.back() : b.back() + (C - b.back()) / 2);
  b.push_back(C);
  return b;
}

/// A seeded problem: B anchors, C classes, D dimensions; labels in [0, B/2 + 1), so that the
/// last shards hold no label of the batch; every third memory row unwritten but the batch's.
template <class T>
struct problem {
  index_t B, C, D;
  std::vector<T> x, w;
  std::vector<index_t> y;
  std::vector<unsigned char> valid;
};

template <class T>
problem<T> make_problem(index_t B, index_t C, index_t D, unsigned seed) {
  problem<T> p{B, C, D, {}, {}, {}, {}};
  std::uint64_t z = seed;
  const auto next = [&z] {  // splitmix64: the same numbers on every rank and platform
    z += 0x9e3779b97f4a7c15ULL;
    std::uint64_t v = z;
    v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
    v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
    return v ^ (v >> 31);
  };
  const auto uniform = [&] { return double(next() >> 11) * 0x1.0p-53; };
  for (index_t k = 0; k < B * D; ++k) p.x.push_back(T(2.0 * uniform() - 1.0));
  for (index_t k = 0; k < C * D; ++k) p.w.push_back(T(2.0 * uniform() - 1.0));
  for (index_t i = 0; i < B; ++i) p.y.push_back(index_t(next() % std::uint64_t(B / 2 + 1)));
  p.valid.assign(std::size_t(C), 1);
  for (index_t j = 0; j < C; j += 3) p.valid[std::size_t(j)] = 0;
  for (index_t yy : p.y) p.valid[std::size_t(yy)] = 1;
  return p;
}

enum class refs_mode { weights, memory, masked };

template <class T>
struct results {
  T loss = T(0);
  std::vector<T> per_anchor, gx, gw, gb, bias_used;
};

/// One call of `loss` (forward_backward, reduction of the loss's options) on classes
/// `shard` of the problem: through `comm` when given, else the plain single-process call.
template <class T, class Loss>
results<T> evaluate(Loss& loss, const problem<T>& p, refs_mode mode, const dist::class_shard& s,
                    comm_type* comm) {
  const auto x = upload(p.x);
  const auto y = upload(p.y);
  const std::vector<T> wrows(p.w.begin() + s.first * p.D, p.w.begin() + s.end() * p.D);
  const std::vector<unsigned char> vrows(p.valid.begin() + s.first, p.valid.begin() + s.end());
  const auto w = upload(wrows);
  const auto v = upload(vrows);
  const matrix_view<const T> xv(backends::data_ptr(x), p.B, p.D);
  const vector_view<const index_t> yv(backends::data_ptr(y), p.B);
  const matrix_view<const T> wv(backends::data_ptr(w), s.count, p.D);
  references<T> refs = mode == refs_mode::weights ? references<T>::weights(wv)
                       : mode == refs_mode::memory
                           ? references<T>::memory(wv)
                           : references<T>::memory(wv, backends::data_ptr(v));
  if (comm != nullptr) refs = refs.shard(s);
  auto gx = backends::make_buffer<T>(policy(), p.B * p.D);
  auto gw = backends::make_buffer<T>(policy(), mode == refs_mode::weights ? s.count * p.D : 0);
  auto per = backends::make_buffer<T>(policy(), p.B);
  const gradients<T> g(matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                       mode == refs_mode::weights
                           ? matrix_view<T>(backends::data_ptr(gw), s.count, p.D)
                           : matrix_view<T>{});
  const vector_view<T> pv(backends::data_ptr(per), p.B);
  results<T> out;
  const loss_result<T> r =
      comm != nullptr ? dist::forward_backward(*comm, policy(), loss, xv, yv, refs, g, {}, pv)
                      : loss.forward_backward(policy(), xv, yv, refs, g, {}, pv);
  out.loss = r.loss;
  out.per_anchor = download(backends::data_ptr(per), p.B);
  out.gx = download(backends::data_ptr(gx), p.B * p.D);
  out.gw = download(backends::data_ptr(gw), mode == refs_mode::weights ? s.count * p.D : 0);
  out.gb = r.grad_bias;
  out.bias_used = r.bias_used;
  return out;
}

/// The sharded calls of `make()`'s loss against the single-process ones, for both splits and
/// two successive calls (the second after any data-dependent bias initialisation).
template <class T, class Make>
void check_against_one_process(Make make, refs_mode mode, int bias_kind) {
  const int R = world_size(), rank = world_rank();
  comm_type& comm = communicator();
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(9, 13, 6, 73);
  for (int split = 0; split < 2; ++split) {
    const std::vector<index_t> ub = uneven_bounds(p.C, R);
    const dist::class_shard s =
        split == 0 ? dist::even_shard(p.C, R, rank) : dist::shard_from_bounds(ub, rank);
    INFO("ranks " << R << ", rank " << rank << ", shard [" << s.first << ", " << s.end()
                  << "), split " << (split == 0 ? "even" : "uneven"));
    auto whole_loss = make();
    auto shard_loss = make();
    for (int call = 0; call < 2; ++call) {
      INFO("call " << call);
      const results<T> want =
          evaluate(whole_loss, p, mode, dist::class_shard{0, p.C, p.C}, nullptr);
      const results<T> got = evaluate(shard_loss, p, mode, s, &comm);
      CHECK(std::abs(double(got.loss) - double(want.loss)) <=
            tol * std::max(1.0, std::abs(double(want.loss))));
      CHECK(max_rel_diff(got.per_anchor, want.per_anchor) <= tol);
      CHECK(max_rel_diff(got.gx, want.gx) <= tol);
      if (mode == refs_mode::weights) {
        const std::vector<T> rows(want.gw.begin() + s.first * p.D, want.gw.begin() + s.end() * p.D);
        CHECK(max_rel_diff(got.gw, rows) <= tol);
      }
      CHECK(max_rel_diff(got.bias_used, want.bias_used) <= tol);
      if (bias_kind == 1) {
        CHECK(max_rel_diff(got.gb, want.gb) <= tol);
      } else if (bias_kind == 2) {
        // A per-class bias: the rank's own entries, and zeros elsewhere.
        std::vector<T> expect(want.gb.size(), T(0));
        for (index_t j = s.first; j < s.end(); ++j)
          expect[std::size_t(j)] = want.gb[std::size_t(j)];
        CHECK(max_rel_diff(got.gb, expect) <= tol);
      }
    }
  }
}

template <class T>
binary_options<T> small_scale(binary_options<T> o) {
  o.s = T(16);
  return o;
}

}  // namespace

TEMPLATE_TEST_CASE("mpi: the binary losses over shards equal one process", "[mpi][losses]", float,
                   double) {
  using T = TestType;
  SECTION("USS-m, per pair, data-dependent scalar bias, masked memory") {
    check_against_one_process<T>([] { return uss_loss<T>(small_scale(binary_options<T>{})); },
                                 refs_mode::masked, 1);
  }
  SECTION("USS, log of sums, data-dependent scalar bias, memory") {
    check_against_one_process<T>(
        [] {
          auto o = small_scale(binary_options<T>{});
          o.form = uss_form::log_of_sums;
          return uss_loss<T>(o);
        },
        refs_mode::memory, 1);
  }
  SECTION("SS-BCE, one bias per identity, data-dependent, masked memory") {
    check_against_one_process<T>(
        [] { return ss_bce_loss<T>(13, small_scale(binary_options<T>{})); }, refs_mode::masked, 2);
  }
  SECTION("BCE head, one bias per class, class weights") {
    check_against_one_process<T>(
        [] {
          bce_head<T> L(13, small_scale(head_options<T>()));
          std::vector<T> b;
          for (index_t j = 0; j < 13; ++j) b.push_back(T(0.5) + T(0.1) * T(j % 5));
          L.set_biases(b);
          return L;
        },
        refs_mode::weights, 2);
  }
  SECTION("UCE head, scalar bias, class weights, reduction sum") {
    check_against_one_process<T>(
        [] {
          auto o = small_scale(head_options<T>());
          o.reduce = reduction::sum;
          return uce_head<T>(13, o);
        },
        refs_mode::weights, 1);
  }
}

TEMPLATE_TEST_CASE("mpi: the softmax losses over shards equal one process", "[mpi][losses]", float,
                   double) {
  using T = TestType;
  SECTION("CosFace, class weights") {
    check_against_one_process<T>([] { return cosface_loss<T>(cosface_options<T>(T(0.35), T(16))); },
                                 refs_mode::weights, 0);
  }
  SECTION("ArcFace (classic fallback), class weights") {
    check_against_one_process<T>(
        [] {
          return arcface_loss<T>(arcface_options<T>(T(0.5), arcface_policy::classic_fallback,
                                                    arcface_gradient::exact, T(16)));
        },
        refs_mode::weights, 0);
  }
  SECTION("sample-to-sample softmax (two statistics passes), masked memory") {
    check_against_one_process<T>(
        [] {
          ss_softmax_options<T> o;
          o.s = T(16);
          return ss_softmax_loss<T>(o);
        },
        refs_mode::masked, 0);
  }
}

TEMPLATE_TEST_CASE("mpi: embedded steps over shards equal one process, memory included",
                   "[mpi][embedded]", float, double) {
  using T = TestType;
  const int R = world_size(), rank = world_rank();
  comm_type& comm = communicator();
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(10, 13, 6, 91);
  for (int split = 0; split < 2; ++split) {
    const std::vector<index_t> ub = uneven_bounds(p.C, R);
    const dist::class_shard s =
        split == 0 ? dist::even_shard(p.C, R, rank) : dist::shard_from_bounds(ub, rank);
    INFO("ranks " << R << ", rank " << rank << ", shard [" << s.first << ", " << s.end() << ")");
    using loss_type = embedded_loss<T>;
    const auto make = [] {
      binary_options<T> uo;
      uo.s = T(16);
      embedded_options<T> eo;
      eo.lambda = T(0.7);
      return loss_type(cosface_loss<T>(cosface_options<T>(T(0.35), T(16))), uss_loss<T>(uo), eo);
    };
    loss_type whole = make(), sharded = make();
    feature_memory<T, test::policy_type> whole_mem(p.C, p.D, {}, policy());
    feature_memory<T, test::policy_type> shard_mem(s, p.D, {}, policy());
    const std::vector<T> wrows(p.w.begin() + s.first * p.D, p.w.begin() + s.end() * p.D);
    const auto w_all = upload(p.w);
    const auto w_own = upload(wrows);
    // Three steps: the warm-up epoch (the head alone, the memory filling up), then two with
    // the sample-to-sample part, each on another batch of the same classes.
    for (int step = 0; step < 3; ++step) {
      INFO("step " << step);
      const problem<T> b = make_problem<T>(10, 13, 6, 91 + unsigned(step));
      const auto x = upload(b.x);
      const auto y = upload(b.y);
      const matrix_view<const T> xv(backends::data_ptr(x), b.B, b.D);
      const vector_view<const index_t> yv(backends::data_ptr(y), b.B);
      auto gx1 = backends::make_buffer<T>(policy(), b.B * b.D);
      auto gx2 = backends::make_buffer<T>(policy(), b.B * b.D);
      auto gw1 = backends::make_buffer<T>(policy(), p.C * p.D);
      auto gw2 = backends::make_buffer<T>(policy(), s.count * p.D);
      const gradients<T> g1(matrix_view<T>(backends::data_ptr(gx1), b.B, b.D),
                            matrix_view<T>(backends::data_ptr(gw1), p.C, p.D));
      const gradients<T> g2(matrix_view<T>(backends::data_ptr(gx2), b.B, b.D),
                            matrix_view<T>(backends::data_ptr(gw2), s.count, p.D));
      const index_t epoch = step == 0 ? 0 : 1;
      const embedded_result<T> want =
          whole.step(policy(), xv, yv, matrix_view<const T>(backends::data_ptr(w_all), p.C, p.D),
                     g1, whole_mem, epoch);
      const embedded_result<T> got = dist::step(
          comm, policy(), sharded, xv, yv,
          matrix_view<const T>(backends::data_ptr(w_own), s.count, p.D), s, g2, shard_mem, epoch);
      CHECK(std::abs(double(got.loss) - double(want.loss)) <=
            tol * std::max(1.0, std::abs(double(want.loss))));
      CHECK(std::abs(double(got.s2s_loss) - double(want.s2s_loss)) <=
            tol * std::max(1.0, std::abs(double(want.s2s_loss))));
      CHECK(max_rel_diff(download(backends::data_ptr(gx2), b.B * b.D),
                         download(backends::data_ptr(gx1), b.B * b.D)) <= tol);
      const auto gw_all = download(backends::data_ptr(gw1), p.C * p.D);
      CHECK(max_rel_diff(download(backends::data_ptr(gw2), s.count * p.D),
                         std::vector<T>(gw_all.begin() + s.first * p.D,
                                        gw_all.begin() + s.end() * p.D)) <= tol);
      CHECK(max_rel_diff(got.grad_bias, want.grad_bias) <= tol);
      CHECK(max_rel_diff(got.bias_used, want.bias_used) <= tol);
      // The memory after the step: the rank's rows of the single-process memory.
      std::vector<T> rows_all(std::size_t(p.C * p.D)), rows_own(std::size_t(s.count * p.D));
      std::vector<unsigned char> valid_all(std::size_t(p.C)), valid_own(std::size_t(s.count));
      whole_mem.save(rows_all, valid_all);
      shard_mem.save(rows_own, valid_own);
      CHECK(rows_own ==
            std::vector<T>(rows_all.begin() + s.first * p.D, rows_all.begin() + s.end() * p.D));
      CHECK(valid_own ==
            std::vector<unsigned char>(valid_all.begin() + s.first, valid_all.begin() + s.end()));
    }
  }
}

/// A loss over sampled negatives (rate 0.4) at steps 0 and 1: the rank's shard, sampled,
/// through the communicator, against one process sampling all the classes (through the
/// single-process communicator): the same classes kept, the same loss, d loss / d x and, for
/// class weights, the same rows of d loss / d W (0 for the rows not kept).
template <class T, class Make>
void check_sampled(Make make, refs_mode mode) {
  const int R = world_size(), rank = world_rank();
  comm_type& comm = communicator();
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(9, 40, 6, 17);
  const std::vector<index_t> ub = uneven_bounds(p.C, R);
  const dist::class_shard s = dist::shard_from_bounds(ub, rank);
  INFO("ranks " << R << ", rank " << rank << ", shard [" << s.first << ", " << s.end() << ")");
  const dist::sampling_options so{0.4, 1234};
  const bool weights = mode == refs_mode::weights;
  const auto x = upload(p.x);
  const auto y = upload(p.y);
  const matrix_view<const T> xv(backends::data_ptr(x), p.B, p.D);
  const vector_view<const index_t> yv(backends::data_ptr(y), p.B);
  auto refs_of = [&](const test::policy_type&, const auto& w, const auto& v, index_t n) {
    const matrix_view<const T> wv(backends::data_ptr(w), n, p.D);
    return weights ? references<T>::weights(wv)
                   : references<T>::memory(
                         wv, mode == refs_mode::masked ? backends::data_ptr(v) : nullptr);
  };
  const auto w_all = upload(p.w);
  const auto v_all = upload(p.valid);
  const std::vector<T> wrows(p.w.begin() + s.first * p.D, p.w.begin() + s.end() * p.D);
  const std::vector<unsigned char> vrows(p.valid.begin() + s.first, p.valid.begin() + s.end());
  const auto w_own = upload(wrows);
  const auto v_own = upload(vrows);
  auto whole_loss = make();
  auto shard_loss = make();
  dist::single_process<test::policy_type> one(policy());
  for (std::uint64_t step = 0; step < 2; ++step) {
    INFO("step " << step);
    dist::sampled_shard<T, test::policy_type> all(
        policy(), refs_of(policy(), w_all, v_all, p.C).shard(dist::class_shard{0, p.C, p.C}), yv,
        so, step);
    dist::sampled_shard<T, test::policy_type> mine(
        policy(), refs_of(policy(), w_own, v_own, s.count).shard(s), yv, so, step);
    // The same classes kept: this shard's part of the single-process sample.
    std::vector<index_t> expect;
    for (index_t c : all.classes())
      if (s.contains(c)) expect.push_back(c);
    CHECK(mine.classes() == expect);
    auto gx1 = backends::make_buffer<T>(policy(), p.B * p.D);
    auto gx2 = backends::make_buffer<T>(policy(), p.B * p.D);
    const gradients<T> g1(matrix_view<T>(backends::data_ptr(gx1), p.B, p.D),
                          weights ? all.gradient() : matrix_view<T>{});
    const gradients<T> g2(matrix_view<T>(backends::data_ptr(gx2), p.B, p.D),
                          weights ? mine.gradient() : matrix_view<T>{});
    const loss_result<T> want =
        dist::forward_backward(one, policy(), whole_loss, xv, yv, all.references(), g1);
    const loss_result<T> got =
        dist::forward_backward(comm, policy(), shard_loss, xv, yv, mine.references(), g2);
    CHECK(std::abs(double(got.loss) - double(want.loss)) <=
          tol * std::max(1.0, std::abs(double(want.loss))));
    CHECK(max_rel_diff(download(backends::data_ptr(gx2), p.B * p.D),
                       download(backends::data_ptr(gx1), p.B * p.D)) <= tol);
    CHECK(max_rel_diff(got.grad_bias, want.grad_bias) <= tol);
    if (weights) {
      auto gw_all = backends::make_buffer<T>(policy(), p.C * p.D);
      auto gw_own = backends::make_buffer<T>(policy(), s.count * p.D);
      all.scatter_gradient(matrix_view<T>(backends::data_ptr(gw_all), p.C, p.D));
      mine.scatter_gradient(matrix_view<T>(backends::data_ptr(gw_own), s.count, p.D));
      const auto full = download(backends::data_ptr(gw_all), p.C * p.D);
      CHECK(max_rel_diff(
                download(backends::data_ptr(gw_own), s.count * p.D),
                std::vector<T>(full.begin() + s.first * p.D, full.begin() + s.end() * p.D)) <= tol);
    }
  }
}

TEMPLATE_TEST_CASE("mpi: sampled negatives over shards equal one process sampling the same",
                   "[mpi][sampling]", float, double) {
  using T = TestType;
  SECTION("CosFace, class weights") {
    check_sampled<T>([] { return cosface_loss<T>(cosface_options<T>(T(0.35), T(16))); },
                     refs_mode::weights);
  }
  SECTION("USS-m, data-dependent scalar bias, masked memory") {
    check_sampled<T>([] { return uss_loss<T>(small_scale(binary_options<T>{})); },
                     refs_mode::masked);
  }
}

TEMPLATE_TEST_CASE("mpi: ranks that disagree get the same error on every rank, never a hang",
                   "[mpi][bad_input]", float, double) {
  using T = TestType;
  const int R = world_size(), rank = world_rank();
  const int last = R - 1;
  comm_type& comm = communicator();
  const problem<T> p = make_problem<T>(9, 13, 6, 73);
  const dist::class_shard s = dist::even_shard(p.C, R, rank);
  const std::vector<T> wrows(p.w.begin() + s.first * p.D, p.w.begin() + s.end() * p.D);
  const auto x = upload(p.x);
  const auto y = upload(p.y);
  const auto w = upload(wrows);
  const matrix_view<const T> xv(backends::data_ptr(x), p.B, p.D);
  const vector_view<const index_t> yv(backends::data_ptr(y), p.B);
  const matrix_view<const T> wv(backends::data_ptr(w), s.count, p.D);
  const references<T> refs = references<T>::weights(wv).shard(s);
  cosface_loss<T> L(cosface_options<T>(T(0.35), T(16)));
  const auto call = [&](matrix_view<const T> xx, vector_view<const index_t> yy,
                        const references<T>& rr) {
    return thrown_argument([&] { dist::forward(comm, policy(), L, xx, yy, rr); });
  };
  // Every case is an error on every rank (R > 1: the last rank differs; R = 1: the one rank
  // is wrong by itself where the case allows it).
  SECTION("a rank that counts another number of classes") {
    references<T> other = refs;
    if (rank == last) other.num_classes = p.C + 1;
    CHECK(call(xv, yv, other) == "references");
  }
  SECTION("shards that leave classes to no rank") {
    references<T> other = refs;
    if (rank == last)
      other.rows = matrix_view<const T>(wv.data, std::max<index_t>(0, s.count - 1), p.D);
    CHECK(call(xv, yv, other) == "references");
  }
  SECTION("a rank with a smaller batch") {
    const matrix_view<const T> xs(xv.data, rank == last ? p.B - 1 : p.B, p.D);
    const vector_view<const index_t> ys(yv.data, rank == last ? p.B - 1 : p.B);
    CHECK(call(xs, ys, refs) == (R > 1 ? "input" : "<no exception>"));
  }
  SECTION("a rank with other labels") {
    std::vector<index_t> other = p.y;
    if (rank == last) other[0] = (other[0] + 1) % p.C;
    const auto yo = upload(other);
    CHECK(call(xv, vector_view<const index_t>(backends::data_ptr(yo), p.B), refs) ==
          (R > 1 ? "labels" : "<no exception>"));
  }
  SECTION("a rank with another input") {
    std::vector<T> other = p.x;
    if (rank == last) other[3] += T(0.25);
    const auto xo = upload(other);
    CHECK(call(matrix_view<const T>(backends::data_ptr(xo), p.B, p.D), yv, refs) ==
          (R > 1 ? "input" : "<no exception>"));
  }
  SECTION("NaN in one rank's class weights") {
    std::vector<T> bad = wrows;
    if (rank == last && !bad.empty()) bad[0] = std::numeric_limits<T>::quiet_NaN();
    const auto wb = upload(bad);
    const references<T> rb =
        references<T>::weights(matrix_view<const T>(backends::data_ptr(wb), s.count, p.D)).shard(s);
    CHECK(call(xv, yv, rb) == "weight");  // the last rank holds rows: 13 classes, <= 4 ranks
  }
  SECTION("a rank whose gradient output has the wrong shape") {
    auto gx = backends::make_buffer<T>(policy(), p.B * p.D);
    const gradients<T> g(matrix_view<T>(backends::data_ptr(gx), rank == last ? p.B - 1 : p.B, p.D));
    CHECK(thrown_argument([&] { dist::forward_backward(comm, policy(), L, xv, yv, refs, g); }) ==
          "gradients.input");
  }
  SECTION("a rank whose loss has another scale") {
    cosface_loss<T> other(cosface_options<T>(T(0.35), rank == last ? T(32) : T(16)));
    CHECK(thrown_argument([&] { dist::forward(comm, policy(), other, xv, yv, refs); }) ==
          (R > 1 ? "options" : "<no exception>"));
  }
  SECTION("in-batch pairs are not sharded") {
    CHECK(call(xv, yv, references<T>::in_batch()) == "references");
  }
  // After any of the errors, the ranks are still in step: a correct call works everywhere.
  CHECK(call(xv, yv, refs) == "<no exception>");
}

TEMPLATE_TEST_CASE("mpi: all-pairs verification over ranks equals one process", "[mpi][all_pairs]",
                   float, double) {
  using T = TestType;
  comm_type& comm = communicator();
  const int rank = world_rank();
  protocols::synthetic_options so;
  so.identities = 31;
  so.per_identity = 6;
  so.dim = 12;
  so.seed = 8;
  const auto set = protocols::clustered_embeddings<T>(so);
  protocols::all_pairs_options ao;
  ao.far_targets = {1e-3, 1e-2, 1e-1};
  ao.tiles.tile_rows = 16;  // 186 rows: 12 bands of tile rows, shared out round robin
  ao.tiles.tile_cols = 50;
  const auto want =
      protocols::all_pairs_histogram<T>(policy(), set.view(), set.label_view(), ao, 1024);
  const auto got =
      dist::all_pairs_histogram<T>(comm, policy(), set.view(), set.label_view(), ao, 1024);
  CHECK(got.histogram.genuine_counts() == want.histogram.genuine_counts());
  CHECK(got.histogram.impostor_counts() == want.histogram.impostor_counts());
  CHECK(got.auc == want.auc);
  CHECK(got.eer.eer == want.eer.eer);
  CHECK(got.at_most.size() == want.at_most.size());
  for (std::size_t k = 0; k < std::min(got.at_most.size(), want.at_most.size()); ++k) {
    CHECK(got.at_most[k].tar == want.at_most[k].tar);
    CHECK(got.at_most[k].far == want.at_most[k].far);
    CHECK(got.at_most[k].threshold == want.at_most[k].threshold);
  }
  // A rank with other labels: the same error on every rank.
  std::vector<long long> other = set.labels;
  if (rank == world_size() - 1) std::swap(other[0], other.back());
  CHECK(thrown_argument([&] {
          dist::all_pairs_histogram<T>(comm, policy(), set.view(),
                                       vector_view<const long long>(other.data(), set.rows()), ao,
                                       1024);
        }) == (world_size() > 1 ? "labels" : "<no exception>"));
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
#if defined(UNITSFACE_TEST_BACKEND_CUDA)
  // Without a device every rank reports the test skipped (CTest's SKIP_RETURN_CODE 77).
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    if (world_rank() == 0) std::puts("no CUDA device: skipped");
    MPI_Finalize();
    return 77;
  }
  // NCCL refuses two ranks on one device ("Duplicate GPU detected"): one device per rank.
  if (world_size() > devices) {
    if (world_rank() == 0) {
      std::printf("%d ranks, %d CUDA device(s): NCCL needs one device per rank: skipped\n",
                  world_size(), devices);
    }
    MPI_Finalize();
    return 77;
  }
  cudaSetDevice(world_rank());
#endif
  const int rc = Catch::Session().run(argc, argv);
  // Every rank's verdict: the program fails when any rank failed.
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
