// Compile check: the whole loss module and the CUDA backend in one nvcc translation unit,
// every loss instantiated for float and double on cuda_policy (forward and forward_backward,
// weights, memory and in-batch references, the feature memory and the embedded loss).
#include "unitsface/backends/cuda.hpp"
#include "unitsface/losses.hpp"

namespace unitsface::cuda_consume {

using namespace unitsface::losses;

template <class T>
void instantiate(const cuda_policy& pol, matrix_view<const T> x, vector_view<const index_t> y,
                 matrix_view<const T> w, const gradients<T>& g) {
  const auto weights = references<T>::weights(w);
  feature_memory<T, cuda_policy> mem(w.rows, w.cols, {}, pol);
  mem.update(x, y);
  const auto memory = mem.as_references();
  const auto batch = references<T>::in_batch();

  uss_loss<T> uss;
  uss.forward_backward(pol, x, y, memory, g);
  uss.forward(pol, x, y, batch);
  ss_bce_loss<T>(w.rows).forward_backward(pol, x, y, memory, g);
  ss_softmax_loss<T>().forward_backward(pol, x, y, memory, g);
  cosface_loss<T>(cosface_options<T>()).forward_backward(pol, x, y, weights, g);
  arcface_loss<T>(arcface_options<T>()).forward_backward(pol, x, y, weights, g);
  combined_margin_loss<T>(combined_margin_options<T>(T(1), T(0.3), T(0.2)))
      .forward_backward(pol, x, y, weights, g);
  bce_head<T>(w.rows).forward_backward(pol, x, y, weights, g);
  uce_head<T>(w.rows).forward_backward(pol, x, y, weights, g);
  embedded_loss<T> emb(cosface_loss<T>(cosface_options<T>()), uss, embedded_options<T>{});
  emb.step(pol, x, y, w, g, mem, 0);
}

template void instantiate<float>(const cuda_policy&, matrix_view<const float>,
                                 vector_view<const index_t>, matrix_view<const float>,
                                 const gradients<float>&);
template void instantiate<double>(const cuda_policy&, matrix_view<const double>,
                                  vector_view<const index_t>, matrix_view<const double>,
                                  const gradients<double>&);

}  // namespace unitsface::cuda_consume
