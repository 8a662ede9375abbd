// unitsface metrics module: verification (ROC, AUC, EER, TAR@FAR, k-fold accuracy),
// identification (CMC, TPIR@FPIR), threshold spread, streaming histograms and conversions.
// Host code, depending only on unitsface/core and the standard library.
#pragma once

#include "unitsface/metrics/conversions.hpp"
#include "unitsface/metrics/corner_summary.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/identification.hpp"
#include "unitsface/metrics/kfold.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/score_histogram.hpp"
#include "unitsface/metrics/sorted_scores.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/threshold_spread.hpp"
#include "unitsface/metrics/validation.hpp"
#include "unitsface/metrics/verification.hpp"
