// A user's translation unit: every module header, one loss on plain arrays.
#include <cmath>
#include <cstdio>
#include <vector>

#include "unitsface/core.hpp"
#include "unitsface/losses.hpp"
#include "unitsface/metrics.hpp"

int main() {
  namespace uf = unitsface;
  std::vector<double> x{1, 0, 0, 1, 1, 1}, w{1, 0, 0, 1, -1, 0}, gx(6), gw(6);
  std::vector<uf::index_t> y{0, 1, 2};
  uf::losses::cosface_loss<double> loss;
  const auto r = loss.forward_backward(
      uf::seq, uf::matrix_view<const double>(x.data(), 3, 2),
      uf::vector_view<const uf::index_t>(y.data(), 3),
      uf::losses::references<double>::weights(uf::matrix_view<const double>(w.data(), 3, 2)),
      {uf::matrix_view<double>(gx.data(), 3, 2), uf::matrix_view<double>(gw.data(), 3, 2)});
  if (!std::isfinite(r.loss)) return 1;
  const std::vector<float> scores{0.9f, 0.8f, 0.3f, 0.1f};
  const std::vector<unsigned char> same{1, 0, 1, 0};
  const double auc = uf::metrics::roc_auc(uf::vector_view<const float>(scores.data(), 4),
                                          uf::vector_view<const unsigned char>(same.data(), 4));
  if (auc != 0.75) return 1;
  std::printf("consumer ok: loss %.6f auc %.2f\n", r.loss, auc);
  return 0;
}
