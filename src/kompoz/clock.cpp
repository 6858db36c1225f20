// SPDX-License-Identifier: MIT
#include "clock.h"

#include "asynccombinator.h"

namespace kompoz {

Clock::~Clock() = default;

namespace {
class SystemClock final : public Clock
{
public:
    std::chrono::nanoseconds monotonicNow() const override
    {
        return std::chrono::steady_clock::now().time_since_epoch();
    }
    qint64 currentMSecsSinceEpoch() const override
    {
        return QDateTime::currentMSecsSinceEpoch();
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
    return m_wallStartMs.load(std::memory_order_relaxed)
            + m_monotonicNs.load(std::memory_order_acquire) / 1000000;
}

void ManualClock::advance(std::chrono::nanoseconds by)
{
    if (by.count() < 0)
        detail::throwInvalid("ManualClock::advance", "by", "must not be negative");
    m_monotonicNs.fetch_add(by.count(), std::memory_order_acq_rel);
}

} // namespace kompoz
