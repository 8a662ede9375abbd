// quickstart: one UniTSFace embedded-loss step (CosFace + USS-m over the feature memory) on a
// random batch held in Eigen matrices.
//
// The official schedule runs the sample-to-class head alone during the first epoch while the
// memory fills up, so the example first writes the memory with one warm-up step (epoch 0),
// then takes the step of interest at epoch 1, where USS-m joins and initialises its bias
// b from the data; t = b / s is the unified threshold.
#include <Eigen/Core>
#include <cstdio>
#include <random>

#include "unitsface/backends/eigen.hpp"
#include "unitsface/losses.hpp"

int main() {
  using T = float;
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Labels = Eigen::Matrix<unitsface::index_t, Eigen::Dynamic, 1>;
  namespace uf = unitsface;
  namespace ufl = unitsface::losses;

  const int batch = 128, dim = 512, classes = 1000;
  std::mt19937_64 rng(2023);
  std::normal_distribution<T> normal(0, 1);
  std::uniform_int_distribution<unitsface::index_t> label(0, classes - 1);
  auto random_matrix = [&](int r, int c) {
    Matrix m(r, c);
    for (int i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
    return m;
  };
  auto random_labels = [&](int n) {
    Labels l(n);
    for (int i = 0; i < n; ++i) l[i] = label(rng);
    return l;
  };

  const Matrix weight = random_matrix(classes, dim);  // the CosFace class weights W
  Matrix grad_x(batch, dim), grad_w(classes, dim);

  // CosFace (s = 64, m = 0.4) + USS-m (s = 64, m = 0.1), lambda = 1, one warm-up epoch: the
  // official UniTSFace configuration (the defaults of embedded_loss).
  ufl::embedded_loss<T> loss;
  ufl::feature_memory<T, uf::eigen_policy> memory(classes, dim);

  const ufl::gradients<T> grads{uf::eigen::view(grad_x), uf::eigen::view(grad_w)};
  for (int epoch = 0; epoch < 2; ++epoch) {
    const Matrix x = random_matrix(batch, dim);  // the backbone's embeddings of a batch
    const Labels y = random_labels(batch);
    const ufl::loss_result<T> r = loss.step(uf::eigen_par, uf::eigen::view(x), uf::eigen::vector(y),
                                            uf::eigen::view(weight), grads, memory, epoch);
    std::printf("epoch %d: loss %.6f  |dL/dx| %.6e  |dL/dW| %.6e", epoch, double(r.loss),
                double(grad_x.norm()), double(grad_w.norm()));
    if (loss.uses_sample_to_sample(epoch)) {
      const auto& uss = loss.sample_to_sample();
      std::printf("  bias b %.6f  threshold t = b/s %.6f  dL/db %.6e", double(uss.bias()),
                  double(uss.threshold()), double(r.grad_bias.at(0)));
    } else {
      std::printf("  (warm-up: CosFace only, memory filling)");
    }
    std::printf("\n");
  }
  return 0;
}
