// unitsface: the argument checks of a loss over class shards, made collectively.
//
// A rank whose arguments are wrong must not leave the others waiting in an all-gather that
// it never joins, and ranks that disagree on the batch or on the classes would exchange
// buffers of different sizes. So every rank makes its own checks without throwing, the ranks
// exchange one fixed-size record each (their shapes, their shard, counts of bad values,
// fingerprints of the batch, the first error met), and every rank then decides on the same
// records: all ranks throw the same error, or none does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/collective.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/detail/validate.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses::detail {

/// Order-independent fingerprints of the batch (the labels and the input's bits): a sum of
/// per-row hashes, the same whichever way a reduction adds them.
struct batch_fingerprint {
  std::uint64_t labels = 0;
  std::uint64_t input = 0;
  batch_fingerprint() = default;
  UNITSFACE_HD explicit batch_fingerprint(int) {}
  UNITSFACE_HD batch_fingerprint& operator+=(const batch_fingerprint& o) {
    labels += o.labels;
    input += o.input;
    return *this;
  }
  UNITSFACE_HD friend batch_fingerprint operator+(batch_fingerprint a, const batch_fingerprint& b) {
    return a += b;
  }
};

UNITSFACE_HD inline std::uint64_t mix64(std::uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <class T>
struct fingerprint_rows {
  matrix_view<const T> x;
  const index_t* labels;
  UNITSFACE_HD batch_fingerprint operator()(index_t i) const {
    batch_fingerprint f;
    f.labels = mix64(std::uint64_t(labels[i]) * 0x9e3779b97f4a7c15ULL + std::uint64_t(i));
    std::uint64_t h = mix64(std::uint64_t(i) + 0x632be59bd9b4e019ULL);
    for (index_t k = 0; k < x.cols; ++k) {
      T v = x(i, k);
      std::uint64_t bits = 0;
      std::memcpy(&bits, &v, sizeof(T));
      h = mix64(h ^ bits);
    }
    f.input = h;
    return f;
  }
};

/// Fingerprint of a loss's parameters: `h` mixed with the bits of `v`.
template <class V>
std::uint64_t fingerprint_value(std::uint64_t h, V v) {
  std::uint64_t bits = 0;
  static_assert(sizeof(V) <= sizeof(bits));
  std::memcpy(&bits, &v, sizeof(V));
  return mix64(h ^ mix64(bits + 0x9e3779b97f4a7c15ULL));
}

inline void copy_text(char* dst, std::size_t cap, const std::string& s) {
  const std::size_t n = std::min(cap - 1, s.size());
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

/// The message of an invalid_argument without its "unitsface: argument 'x': " prefix.
inline std::string bare_message(const unitsface::invalid_argument& e) {
  const std::string w = e.what();
  const std::string mark = "': ";
  const std::size_t at = w.find(mark);
  return at == std::string::npos ? w : w.substr(at + mark.size());
}

/// What a rank's own checks found: nothing, or the first invalid_argument.
struct check_outcome {
  int failed = 0;
  char argument[64] = {};
  char message[448] = {};
};

template <class Local>
check_outcome run_checks(Local&& local) {
  check_outcome out;
  try {
    local();
  } catch (const unitsface::invalid_argument& e) {
    out.failed = 1;
    copy_text(out.argument, sizeof(out.argument), e.argument());
    copy_text(out.message, sizeof(out.message), bare_message(e));
  }
  return out;
}

/// Throws, on every rank, the error of the first rank (in rank order) whose checks failed.
inline void throw_first_failure(const std::vector<check_outcome>& all) {
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (all[r].failed) {
      throw unitsface::invalid_argument(all[r].argument,
                                        "on rank " + std::to_string(r) + ": " + all[r].message);
    }
  }
}

/// Runs `local` (checks that may throw unitsface::invalid_argument) on every rank and throws
/// the first rank's error on every rank, or returns on every rank.
template <class Local>
void agree_or_throw(collective& comm, Local&& local) {
  const check_outcome mine = run_checks(local);
  std::vector<check_outcome> all(static_cast<std::size_t>(comm.size()));
  comm.all_gather_host(&mine, all.data(), sizeof(check_outcome));
  throw_first_failure(all);
}

/// One rank's account of its call.
struct shard_record {
  index_t batch = 0, dim = 0, classes = 0, first = 0, rows = 0;
  index_t bias_size = 0;
  std::uint64_t parameters = 0;  ///< the loss's fingerprint of its parameters
  int kind = 0;
  int values_checked = 0;  ///< the counts and fingerprints below were computed
  check_counts counts;
  batch_fingerprint fingerprint;
  check_outcome outcome;  ///< this rank's own checks
};

/// Makes `local` (this rank's own checks, which may throw unitsface::invalid_argument) and
/// the checks across the ranks, collectively: on return every rank has passed, or every rank
/// throws the same error. `check_values` adds the value checks (labels, NaN/Inf, a valid
/// memory row somewhere, the same batch on every rank), one reduction per rank.
template <class Policy, class T, class Local>
void validate_shards(collective& comm, const Policy& pol, matrix_view<const T> x,
                     vector_view<const index_t> labels, const references<T>& refs,
                     index_t bias_size, std::uint64_t parameters, bool check_values,
                     Local&& local) {
  shard_record mine;
  mine.outcome = run_checks([&] {
    require(refs.kind != reference_kind::in_batch, "references",
            "in-batch pairs have no classes to shard: evaluate an in-batch loss on every rank "
            "without a communicator");
    local();
    mine.batch = x.rows;
    mine.dim = x.cols;
    mine.classes = refs.classes();
    mine.first = refs.label_offset;
    mine.rows = refs.covered_classes();
    mine.bias_size = bias_size;
    mine.parameters = parameters;
    mine.kind = static_cast<int>(refs.kind);
    if (check_values) {
      mine.values_checked = 1;
      mine.counts = backends::reduce_index<check_counts>(
          pol, std::max(x.rows, refs.rows.rows),
          count_problems<T>{x, labels.data, refs.classes(), refs.rows, refs.valid,
                            refs.rows_checked});
      mine.fingerprint = backends::reduce_index<batch_fingerprint>(
          pol, x.rows, fingerprint_rows<T>{x, labels.data});
    }
  });
  const int R = comm.size();
  std::vector<shard_record> all(static_cast<std::size_t>(R));
  comm.all_gather_host(&mine, all.data(), sizeof(shard_record));

  // Every rank runs the same decisions on the same records.
  std::vector<check_outcome> outcomes;
  for (const shard_record& a : all) outcomes.push_back(a.outcome);
  throw_first_failure(outcomes);
  const shard_record& r0 = all[0];
  const auto where = [](int r) { return "rank " + std::to_string(r); };
  for (int r = 1; r < R; ++r) {
    const shard_record& a = all[std::size_t(r)];
    require(a.batch == r0.batch, "input",
            where(r) + " has a batch of " + std::to_string(a.batch) + " anchors, rank 0 " +
                std::to_string(r0.batch) + ": every rank must hold the whole (global) batch");
    require(a.dim == r0.dim, "input",
            where(r) + " has dimension " + std::to_string(a.dim) + ", rank 0 " +
                std::to_string(r0.dim));
    require(a.classes == r0.classes, "references",
            where(r) + " counts " + std::to_string(a.classes) + " classes, rank 0 " +
                std::to_string(r0.classes));
    require(a.kind == r0.kind, "references", where(r) + " holds another kind of references");
    require(a.bias_size == r0.bias_size, "bias",
            where(r) + " has " + std::to_string(a.bias_size) + " biases, rank 0 " +
                std::to_string(r0.bias_size));
    require(a.parameters == r0.parameters, "options",
            where(r) + "'s loss has other parameters than rank 0's (options, or a scalar bias)");
    require(a.values_checked == r0.values_checked, "validate",
            where(r) + " and rank 0 disagree on checking values");
  }
  // The shards must tile [0, C) in rank order: each class is counted once, by one rank.
  index_t next = 0;
  for (int r = 0; r < R; ++r) {
    const shard_record& a = all[std::size_t(r)];
    require(a.first == next, "references",
            where(r) + " holds classes [" + std::to_string(a.first) + ", " +
                std::to_string(a.first + a.rows) + "), but its shard must start at class " +
                std::to_string(next) + ": the shards must tile [0, " + std::to_string(r0.classes) +
                ") in rank order");
    next = a.first + a.rows;
  }
  require(next == r0.classes, "references",
          "the shards end at class " + std::to_string(next) + " of " + std::to_string(r0.classes) +
              ": classes [" + std::to_string(next) + ", " + std::to_string(r0.classes) +
              ") belong to no rank");
  if (!r0.values_checked) return;
  for (int r = 1; r < R; ++r) {
    const shard_record& a = all[std::size_t(r)];
    require(a.fingerprint.labels == r0.fingerprint.labels, "labels",
            where(r) + " holds other labels than rank 0: every rank must hold the same batch");
    require(a.fingerprint.input == r0.fingerprint.input, "input",
            where(r) + " holds another input than rank 0: every rank must hold the same batch");
  }
  check_counts total;
  for (int r = 0; r < R; ++r) {
    total.nonfinite_refs += all[std::size_t(r)].counts.nonfinite_refs;
    total.valid_rows += all[std::size_t(r)].counts.valid_rows;
  }
  total.bad_labels = r0.counts.bad_labels;  // the same batch on every rank: count it once
  total.nonfinite_input = r0.counts.nonfinite_input;
  require_no_problems(total, r0.classes,
                      r0.kind == static_cast<int>(reference_kind::memory) ? "memory" : "weight");
}

}  // namespace unitsface::losses::detail
