// unitsface: MFR-style all-pairs verification over several processes.
//
// protocols::all_pairs_histogram in one process scores the N(N - 1)/2 pairs twice: a first
// pass bins every score into a histogram, a second keeps the scores of the few bins that
// decide each FAR target. Over R ranks, each rank scores a share of the pairs (the bands of
// tile rows k with k % R == rank: protocols::tile_options::part), the ranks' histograms are
// merged (all-gathered as save() blobs, added in rank order), every rank plans the second
// pass on the merged histogram, and the scores each rank keeps are all-gathered: every rank
// ends with the single-process result, exactly (the histogram's counts and the kept scores do
// not depend on who scored which pair).
#pragma once

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/distributed/communicator.hpp"
#include "unitsface/losses/detail/validate_shards.hpp"
#include "unitsface/metrics/histogram_refinement.hpp"
#include "unitsface/metrics/score_histogram.hpp"
#include "unitsface/protocols/all_pairs.hpp"

namespace unitsface::distributed {

namespace detail {
/// Every rank's bytes (any length), in rank order.
template <communicator C>
std::vector<std::string> all_gather_blobs(C& comm, const std::string& mine) {
  const int R = comm.size();
  const unsigned long long n = mine.size();
  std::vector<unsigned long long> sizes(static_cast<std::size_t>(R));
  comm.all_gather_host(&n, sizes.data(), sizeof(n));
  const unsigned long long most = *std::max_element(sizes.begin(), sizes.end());
  std::string padded = mine;
  padded.resize(most);
  std::string all(most * std::size_t(R), '\0');
  comm.all_gather_host(padded.data(), all.data(), most);
  std::vector<std::string> out;
  for (int r = 0; r < R; ++r)
    out.push_back(all.substr(std::size_t(r) * most, std::size_t(sizes[std::size_t(r)])));
  return out;
}
}  // namespace detail

/// protocols::all_pairs_histogram over the ranks of `comm`: every rank passes the whole set
/// (features N x D in host memory, N labels) and the same options, scores its share of the
/// pairs on `pol`, and returns the result of the whole set (the same on every rank). Arguments
/// are checked collectively: a rank whose set or options differ is an error on every rank.
template <class T, communicator C, class Policy, class E, class L>
protocols::all_pairs_histogram_result all_pairs_histogram(
    C& comm, const Policy& pol, matrix_view<E> features, vector_view<L> labels,
    const protocols::all_pairs_options& o = {}, index_t bins = 65536) {
  namespace ld = unitsface::losses::detail;
  detail::collective_adapter<C> coll(comm);
  // The set, checked and normalised on every rank; a failure on any rank fails them all.
  std::optional<protocols::detail::labelled_rows<T, Policy>> set;
  ld::agree_or_throw(coll, [&] {
    ld::require(bins > 0, "bins", "must be > 0");
    set.emplace(pol, features, labels, o);
  });
  // The same set and options on every rank: shapes, bins, targets, and the labels' order.
  struct agreement {
    index_t n, d, bins, targets;
    std::uint64_t labels, far;
  } mine{features.rows, features.cols, bins, index_t(o.far_targets.size()), 0, 0};
  for (std::size_t i = 0; i < set->labels.size(); ++i)
    mine.labels += ld::mix64(std::uint64_t(set->labels[i]) * 0x9e3779b97f4a7c15ULL + i);
  for (double f : o.far_targets) mine.far = ld::fingerprint_value(mine.far, f);
  std::vector<agreement> all(static_cast<std::size_t>(comm.size()));
  comm.all_gather_host(&mine, all.data(), sizeof(agreement));
  for (int r = 1; r < comm.size(); ++r) {
    const agreement& a = all[std::size_t(r)];
    const std::string who = "rank " + std::to_string(r);
    ld::require(a.n == all[0].n && a.d == all[0].d, "features",
                who + " holds another set than rank 0 (" + std::to_string(a.n) + " x " +
                    std::to_string(a.d) + " against " + std::to_string(all[0].n) + " x " +
                    std::to_string(all[0].d) + ")");
    ld::require(a.labels == all[0].labels, "labels", who + " holds other labels than rank 0");
    ld::require(a.bins == all[0].bins, "bins", who + " asks for other bins than rank 0");
    ld::require(a.targets == all[0].targets && a.far == all[0].far, "far_targets",
                who + " asks for other FAR targets than rank 0");
  }

  protocols::tile_options tiles = o.tiles;
  tiles.part = comm.rank();
  tiles.parts = comm.size();
  // Pass 1: this rank's pairs into a histogram; the ranks' histograms merged in rank order.
  // Each tile's rows shared out among the host's threads, their histograms merged in share order.
  metrics::score_histogram own(bins, -1.0, 1.0);
  std::vector<metrics::score_histogram> h(std::size_t(set->shares(tiles)), own);
  set->for_each_pair(pol, tiles, h, protocols::detail::add_impostor_run{},
                     protocols::detail::add_genuine{});
  for (const auto& part : h) own.merge(part);
  std::ostringstream blob;
  own.save(blob);
  protocols::all_pairs_histogram_result r{metrics::score_histogram(bins, -1.0, 1.0), 0.0, {}, {}};
  for (const std::string& b : detail::all_gather_blobs(comm, blob.str())) {
    std::istringstream in(b);
    r.histogram.merge(metrics::score_histogram::load(in));
  }
  unitsface::detail::require(r.histogram.genuine_total() > 0, "labels",
                             "no two rows share a label: there is no genuine pair");
  // Pass 2 on the merged plan; every rank's kept scores gathered.
  std::vector<metrics::histogram_refinement> refine(
      std::size_t(set->shares(tiles)), metrics::histogram_refinement(r.histogram, o.far_targets));
  metrics::histogram_refinement others(r.histogram, o.far_targets);
  set->for_each_pair(pol, tiles, refine, protocols::detail::add_impostor_run{},
                     protocols::detail::add_genuine{});
  for (std::size_t k = 1; k < refine.size(); ++k) refine.front().merge_kept(refine[k].kept());
  const std::vector<double> kept = refine.front().kept();
  std::string bytes(kept.size() * sizeof(double), '\0');
  if (!kept.empty()) std::memcpy(bytes.data(), kept.data(), bytes.size());
  for (const std::string& b : detail::all_gather_blobs(comm, bytes)) {
    std::vector<double> k(b.size() / sizeof(double));
    if (!k.empty()) std::memcpy(k.data(), b.data(), k.size() * sizeof(double));
    others.merge_kept(k);
  }
  r.auc = r.histogram.auc();
  r.eer = r.histogram.eer();
  r.at_most = others.results();
  return r;
}

}  // namespace unitsface::distributed
