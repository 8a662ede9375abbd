// unitsface: every loss (module header).
#pragma once

#include "unitsface/core.hpp"
#include "unitsface/losses/bce_head.hpp"
#include "unitsface/losses/binary_loss.hpp"
#include "unitsface/losses/embedded.hpp"
#include "unitsface/losses/feature_memory.hpp"
#include "unitsface/losses/margins.hpp"
#include "unitsface/losses/references.hpp"
#include "unitsface/losses/required_bytes.hpp"
#include "unitsface/losses/softmax_head.hpp"
#include "unitsface/losses/ss_bce.hpp"
#include "unitsface/losses/ss_softmax.hpp"
#include "unitsface/losses/uss.hpp"
