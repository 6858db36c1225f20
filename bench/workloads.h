// SPDX-License-Identifier: MIT
#pragma once

//! \file workloads.h
//! The workload groups of kompoz-bench. Each group holds the workload on every path it is
//! measured on and the baselines they are compared with, so one child process times them all,
//! interleaved. Ids: "<workload>.<path>.<task>", path = future (run(ctx), a QFuture) or cb
//! (run(ctx, fn), no QFuture), task = ready | promise | plain.

#include "harness.h"

#include <vector>

namespace bench {

//! B0 floors: ready (ready QFuture + then), promise (QPromise fulfilled after the call + then),
//! readnow (ready QFuture read at once), plain (a bool task and a direct callback).
std::vector<Variant> breakerGroup(qint64 n); // B0 + W1
std::vector<Variant> pipelineGroup(qint64 n); // B0 + W2 (both pipelines)
std::vector<Variant> openBreakerGroup(qint64 n); // B0 + W5
std::vector<Variant> limiterGroup(qint64 n); // W3 bare burst + limited(rule, 64)
std::vector<Variant> timeoutGroup(qint64 n); // W4 bare burst + withTimeout(rule, 10s)
std::vector<Variant> threadsGroup(int threads, qint64 nSeq, qint64 nBurst); // W1, W3 shared
//! B0 + P: retry, fallback, hedged, rateLimited and a ratio breaker, each on its cheapest run.
std::vector<Variant> policiesGroup(qint64 n);
//! RollingMetrics::record() when the library has it; empty otherwise.
std::vector<Variant> metricsGroup(qint64 n);
bool haveMetrics();

} // namespace bench
