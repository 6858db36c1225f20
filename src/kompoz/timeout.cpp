// SPDX-License-Identifier: MIT
#include "timeout.h"

#include <QMetaMethod>

namespace kompoz {

TimeoutPolicy::TimeoutPolicy(std::chrono::nanoseconds timeout, QObject *parent)
    : LiveObject(parent), m_timeoutNs(timeout.count())
{
    if (timeout.count() <= 0)
        detail::throwInvalid("TimeoutPolicy", "timeout", "must be greater than zero");
}

TimeoutPolicy::~TimeoutPolicy() = default;

void TimeoutPolicy::setTimeout(std::chrono::nanoseconds timeout)
{
    if (timeout.count() <= 0)
        detail::throwInvalid("TimeoutPolicy::setTimeout", "timeout", "must be greater than zero");
    if (m_timeoutNs.exchange(timeout.count(), std::memory_order_relaxed) != timeout.count())
        Q_EMIT timeoutChanged();
}

qint64 TimeoutPolicy::timeoutMs() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(timeout()).count();
}

void TimeoutPolicy::setTimeoutMs(qint64 ms) { setTimeout(std::chrono::milliseconds(ms)); }

void TimeoutPolicy::recordEnd(bool timedOut)
{
    if (!timedOut) {
        // Read before writing: runs that end in time, the common case, then share the cache line.
        if (m_lastTimedOut.load(std::memory_order_relaxed))
            m_lastTimedOut.store(false, std::memory_order_relaxed);
        return;
    }
    m_lastTimedOut.store(true, std::memory_order_relaxed);
    m_timedOutCount.fetch_add(1, std::memory_order_relaxed);
    static const QMetaMethod signal = QMetaMethod::fromSignal(&TimeoutPolicy::runTimedOut);
    if (isSignalConnected(signal))
        Q_EMIT runTimedOut();
    countsChanged();
}

void TimeoutPolicy::flushCounts()
{
    const int now = timedOutCount();
    if (std::exchange(m_announced, now) != now)
        Q_EMIT timedOutCountChanged(now);
}

} // namespace kompoz
