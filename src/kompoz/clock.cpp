// SPDX-License-Identifier: MIT
#include "clock.h"

#include "asynccombinator.h"

#include <time.h>

namespace kompoz {

Clock::~Clock() = default;

namespace {
class SystemClock final : public Clock
{
public:
    // The coarse clocks (a few ms resolution, a few ns per read instead of ~20): a breaker
    // reads the time on every run, and recovery timeouts and "last failure" times need no
    // more than millisecond accuracy.
    std::chrono::nanoseconds monotonicNow() const override
    {
#ifdef CLOCK_MONOTONIC_COARSE
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
#else
        return std::chrono::steady_clock::now().time_since_epoch();
#endif
    }
    qint64 currentMSecsSinceEpoch() const override
    {
#ifdef CLOCK_REALTIME_COARSE
        timespec ts;
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        return qint64(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
#else
        return QDateTime::currentMSecsSinceEpoch();
#endif
    }
};
} // namespace

const Clock *Clock::system()
{
    static const SystemClock clock;
    return &clock;
}

ManualClock::ManualClock(const QDateTime &start) : m_wallStartMs(start.toMSecsSinceEpoch()) { }

std::chrono::nanoseconds ManualClock::monotonicNow() const
{
    return std::chrono::nanoseconds(m_monotonicNs.load(std::memory_order_acquire));
}

qint64 ManualClock::currentMSecsSinceEpoch() const
{
    return m_wallStartMs.load(std::memory_order_relaxed) +
            m_monotonicNs.load(std::memory_order_acquire) / 1000000;
}

void ManualClock::advance(std::chrono::nanoseconds by)
{
    if (by.count() < 0)
        detail::throwInvalid("ManualClock::advance", "by", "must not be negative");
    m_monotonicNs.fetch_add(by.count(), std::memory_order_acq_rel);
}

} // namespace kompoz
