// SPDX-License-Identifier: MIT
// W3: n runs started at once through limited(rule, 64); the task finishes on a later turn of
// the event loop (the peers script's `await setImmediate`). The bare burst starts the same n
// tasks without the library.

#include "burst.h"
#include "tasks.h"
#include "workloads.h"

#include <kompoz/kompoz.h>

namespace bench {
namespace {
constexpr int Slots = 64;

Variant bare(qint64 n)
{
    return {QStringLiteral("W3.bare"),
            QStringLiteral("W3 bare burst: n tasks done on a later event-loop turn"),
            {},
            n,
            [](qint64 n, QJsonObject &checks) {
                taskState().reset();
                Countdown done(n);
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i)
                    tickTask(int(i)).then([&done](bool v) { done.hit(v); });
                done.wait();
                const qint64 ns = nsSince(t0);
                require(done.ok() == n && taskState().calls == n, "W3 bare: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                checks.insert(QStringLiteral("max_in_flight"), taskState().maxInFlight.load());
                return ns;
            }};
}

Variant through(qint64 n, bool future)
{
    auto run = [future](qint64 n, QJsonObject &checks) {
        auto lim = kompoz::limited(kompoz::asyncRule<int>([](int i) { return tickTask(i); }),
                                   Slots);
        taskState().reset();
        Countdown done(n);
        const auto t0 = clockStart();
        if (future) {
            for (qint64 i = 0; i < n; ++i)
                lim.run(int(i)).then([&done](const kompoz::Result<int> &r) { done.hit(r.ok); });
        } else {
            for (qint64 i = 0; i < n; ++i) {
                lim.run(int(i),
                        [&done](const kompoz::Completion<int> &r) { done.hit(r.result.ok); });
            }
        }
        done.wait();
        const qint64 ns = nsSince(t0);
        require(done.ok() == n && taskState().calls == n, "W3: all ok");
        require(taskState().maxInFlight == qMin<qint64>(Slots, n), "W3: highest in flight = 64");
        require(lim.pool()->peakActive() == qMin<qint64>(Slots, n), "W3: pool peak = 64");
        require(lim.pool()->active() == 0 && lim.pool()->queued() == 0, "W3: pool drained");
        checks.insert(QStringLiteral("all_ok"), true);
        checks.insert(QStringLiteral("calls"), taskState().calls.load());
        checks.insert(QStringLiteral("max_in_flight"), taskState().maxInFlight.load());
        checks.insert(QStringLiteral("pool_peak_active"), lim.pool()->peakActive());
        return ns;
    };
    return {future ? QStringLiteral("W3.future") : QStringLiteral("W3.cb"),
            future ? QStringLiteral("W3 limited(rule, 64), QFuture path")
                   : QStringLiteral("W3 limited(rule, 64), callback path"),
            QStringLiteral("W3.bare"), n, run};
}
} // namespace

std::vector<Variant> limiterGroup(qint64 n)
{
    return {bare(n), through(n, true), through(n, false)};
}

} // namespace bench
