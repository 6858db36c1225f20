// SPDX-License-Identifier: MIT
#pragma once

//! \file kompoz.h
//! Kompoz for Qt: kompoz's concurrency combinators for QFuture-returning calls.
//! \code
//! #include <kompoz/kompoz.h>
//! using namespace std::chrono_literals;
//! auto fetch = kompoz::asyncRule<QUrl>([](const QUrl &u) { return api.ping(u); }, u"ping"_qs);
//! auto safe = kompoz::circuitBreaker(kompoz::withTimeout(kompoz::limited(fetch, 8), 2s));
//! safe.run(url).then(this, [](kompoz::Result<QUrl> r) { ... });
//! \endcode

#include <kompoz/asynccombinator.h>
#include <kompoz/circuitbreaker.h>
#include <kompoz/clock.h>
#include <kompoz/fallback.h>
#include <kompoz/hedged.h>
#include <kompoz/limiter.h>
#include <kompoz/ratelimiter.h>
#include <kompoz/registry.h>
#include <kompoz/retry.h>
#include <kompoz/rollingmetrics.h>
#include <kompoz/timeout.h>
