// SPDX-License-Identifier: MIT
// RollingMetrics::record(): the cost of one record, against a loop that hands the same values
// to an opaque function; and withMetrics() around W1's breaker on the callback path, against
// the same breaker without it.

#include "tasks.h"
#include "workloads.h"

#include <kompoz/kompoz.h>

#if __has_include(<kompoz/rollingmetrics.h>)
#    include <kompoz/rollingmetrics.h>
#    define KOMPOZ_BENCH_HAVE_METRICS 1
#endif

namespace bench {

#ifdef KOMPOZ_BENCH_HAVE_METRICS
namespace {
using namespace std::chrono_literals;

[[gnu::noipa]] void opaque(kompoz::Outcome outcome, std::chrono::nanoseconds latency)
{
    static volatile qint64 sink = 0;
    sink = sink + int(outcome) + latency.count();
}

// Latencies spread over the histogram (1 us .. 1 s), as real runs would be.
std::chrono::nanoseconds latencyOf(qint64 i) { return std::chrono::nanoseconds(1000 << (i & 19)); }

Variant recordBaseline(qint64 n)
{
    return {QStringLiteral("M.floor"),
            QStringLiteral("metrics floor: values to an opaque call"),
            {},
            n,
            [](qint64 n, QJsonObject &) {
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i)
                    opaque(kompoz::Outcome::Success, latencyOf(i));
                return nsSince(t0);
            },
            20000};
}

Variant record(qint64 n)
{
    return {QStringLiteral("M.record"),
            QStringLiteral("RollingMetrics::record()"),
            QStringLiteral("M.floor"),
            n,
            [](qint64 n, QJsonObject &checks) {
                kompoz::RollingMetrics metrics;
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i)
                    metrics.record(kompoz::Outcome::Success, latencyOf(i));
                const qint64 ns = nsSince(t0);
                const qint64 total = metrics.totalCount(kompoz::Outcome::Success);
                require(total == n, "metrics: every record counted");
                checks.insert(QStringLiteral("recorded"), total);
                return ns;
            },
            20000};
}

Variant breaker(qint64 n, bool measured)
{
    auto run = [measured](qint64 n, QJsonObject &checks) {
        auto inner = kompoz::circuitBreaker(
                kompoz::asyncRule<int>([](int i) { return plainTask(i); }));
        auto outer = measured ? kompoz::AsyncCombinator<int>(kompoz::withMetrics(inner))
                              : kompoz::AsyncCombinator<int>(inner);
        qint64 ok = 0;
        const auto t0 = clockStart();
        for (qint64 i = 0; i < n; ++i)
            outer.run(int(i), [&ok](const kompoz::Completion<int> &r) { ok += r.result.ok; });
        const qint64 ns = nsSince(t0);
        require(ok == n, "metrics W1: all ok");
        checks.insert(QStringLiteral("all_ok"), true);
        return ns;
    };
    return {measured ? QStringLiteral("M.W1.cb.plain") : QStringLiteral("M.base.W1.cb.plain"),
            measured ? QStringLiteral("withMetrics(circuitBreaker(rule)), callback path")
                     : QStringLiteral("circuitBreaker(rule), callback path (for M.W1)"),
            measured ? QStringLiteral("M.base.W1.cb.plain") : QString(),
            n,
            run,
            20000};
}
} // namespace

bool haveMetrics() { return true; }

std::vector<Variant> metricsGroup(qint64 n)
{
    return {recordBaseline(n), record(n), breaker(n, false), breaker(n, true)};
}
#else
bool haveMetrics() { return false; }

std::vector<Variant> metricsGroup(qint64) { return {}; }
#endif

} // namespace bench
