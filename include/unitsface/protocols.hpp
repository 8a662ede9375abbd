// unitsface protocols module: the benchmark protocols the face-recognition literature reports,
// from embeddings, on any backend: IJB-C 1:1 template verification, open-set 1:N
// identification (IJB-C 1:N), MegaFace Challenge 1 single-mate ranking and MFR-style all-pairs
// verification. The similarities are computed in tiles by the backend's matrix product and
// reduced as each tile arrives (similarity_tiles.hpp); the scores are summarised by the metrics
// module; synthetic.hpp makes benchmark-size clustered embeddings. Depends on unitsface/core, unitsface/metrics and the backends' primitives
// (backends/primitives.hpp: the dispatch and the generic versions, no backend library).
#pragma once

#include "unitsface/protocols/all_pairs.hpp"
#include "unitsface/protocols/identification.hpp"
#include "unitsface/protocols/ijbc.hpp"
#include "unitsface/protocols/megaface.hpp"
#include "unitsface/protocols/similarity_tiles.hpp"
#include "unitsface/protocols/synthetic.hpp"
