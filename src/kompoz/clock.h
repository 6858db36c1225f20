// SPDX-License-Identifier: MIT
#pragma once

//! \file clock.h
//! The time a breaker reads. Replace it with a ManualClock in tests, so recovery timeouts are
//! tested by moving time forward, not by sleeping (as Polly's TimeProvider).
//! \code
//! kompoz::ManualClock clock;
//! breaker.breaker()->setClock(&clock);
//! clock.advance(30s);   // the recovery timeout has passed
//! \endcode

#include <kompoz/types.h>

#include <QDateTime>

#include <atomic>
#include <chrono>

namespace kompoz {

class KOMPOZ_EXPORT Clock
{
public:
    virtual ~Clock();
    //! A monotonic time, for durations (recovery timeouts).
    virtual std::chrono::nanoseconds monotonicNow() const = 0;
    //! Wall-clock time in ms since the Unix epoch, for the times shown to people.
    virtual qint64 currentMSecsSinceEpoch() const = 0;

    //! The real clocks (std::chrono::steady_clock, QDateTime). Lives forever.
    static const Clock *system();
};

//! A clock that moves only when told. Thread-safe.
class KOMPOZ_EXPORT ManualClock : public Clock
{
public:
    //! Starts at monotonic time 0 and at `start` (default: the real current time) on the wall.
    explicit ManualClock(const QDateTime &start = QDateTime::currentDateTimeUtc());
    std::chrono::nanoseconds monotonicNow() const override;
    qint64 currentMSecsSinceEpoch() const override;
    //! Moves both clocks forward. `by` must not be negative.
    void advance(std::chrono::nanoseconds by);

private:
    std::atomic<qint64> m_monotonicNs {0};
    std::atomic<qint64> m_wallStartMs;
};

} // namespace kompoz
