// SPDX-License-Identifier: MIT
#pragma once

//
//  W A R N I N G
//  -------------
// Not part of the public API: the breaker's option state (failure-ratio window, break-duration
// backoff, isolation, the automatic half-open timer). Included by circuitbreaker*.cpp only.

#include "circuitbreaker.h"

#include <QVarLengthArray>

#include <limits>

#include <vector>

namespace kompoz::detail {

//! The outcomes of the last N calls (Count) or of the last windowDuration (Time, in ten
//! buckets), with running totals: O(1) per call, no allocation after construction.
class OutcomeWindow
{
public:
    void configure(CircuitBreakerOptions::WindowKind kind, int size, qint64 durationNs)
    {
        m_kind = kind;
        if (kind == CircuitBreakerOptions::WindowKind::Count) {
            m_ring.assign(size_t(size), 0);
        } else {
            m_bucketNs = qMax<qint64>(1, durationNs / kBuckets);
            m_buckets.assign(kBuckets, Bucket {});
        }
        clear();
    }
    void clear()
    {
        std::fill(m_ring.begin(), m_ring.end(), quint8(0));
        m_pos = m_filled = 0;
        m_calls = m_failures = m_slow = 0;
        for (Bucket &b : m_buckets)
            b = Bucket {};
    }
    void record(bool failure, bool slow, qint64 nowNs)
    {
        const quint8 bits = quint8((failure ? 1 : 0) | (slow ? 2 : 0));
        if (m_kind == CircuitBreakerOptions::WindowKind::Count) {
            if (m_filled == int(m_ring.size()))
                forget(m_ring[size_t(m_pos)]);
            else
                ++m_filled;
            m_ring[size_t(m_pos)] = bits;
            m_pos = (m_pos + 1) % int(m_ring.size());
            ++m_calls;
            m_failures += failure ? 1 : 0;
            m_slow += slow ? 1 : 0;
            return;
        }
        Bucket &b = bucket(nowNs);
        ++b.calls;
        b.failures += failure ? 1 : 0;
        b.slow += slow ? 1 : 0;
    }
    struct Totals
    {
        int calls = 0, failures = 0, slow = 0;
    };
    Totals totals(qint64 nowNs) const
    {
        if (m_kind == CircuitBreakerOptions::WindowKind::Count)
            return Totals {m_calls, m_failures, m_slow};
        Totals t;
        const qint64 current = nowNs / m_bucketNs;
        for (const Bucket &b : m_buckets) {
            if (b.epoch > current - kBuckets && b.epoch <= current) {
                t.calls += b.calls;
                t.failures += b.failures;
                t.slow += b.slow;
            }
        }
        return t;
    }

private:
    static constexpr int kBuckets = 10;
    struct Bucket
    {
        qint64 epoch = std::numeric_limits<qint64>::min();
        int calls = 0, failures = 0, slow = 0;
    };
    void forget(quint8 bits)
    {
        --m_calls;
        m_failures -= (bits & 1) ? 1 : 0;
        m_slow -= (bits & 2) ? 1 : 0;
    }
    Bucket &bucket(qint64 nowNs)
    {
        const qint64 epoch = nowNs / m_bucketNs;
        Bucket &b = m_buckets[size_t(((epoch % kBuckets) + kBuckets) % kBuckets)];
        if (b.epoch != epoch)
            b = Bucket {epoch, 0, 0, 0};
        return b;
    }

    CircuitBreakerOptions::WindowKind m_kind = CircuitBreakerOptions::WindowKind::Count;
    std::vector<quint8> m_ring;
    int m_pos = 0, m_filled = 0;
    int m_calls = 0, m_failures = 0, m_slow = 0;
    qint64 m_bucketNs = 1;
    std::vector<Bucket> m_buckets;
};

// Wakes an open breaker when its break ends. Holds the breaker by a pointer the breaker clears
// in its destructor (under m_mutex here), and only posts to the breaker's thread: the
// transition and its signals happen there, outside any lock.
class AutoHalfOpenTimer final : public TimerEntry
{
public:
    explicit AutoHalfOpenTimer(CircuitBreaker *b) : m_breaker(b) { }
    void fire() override
    {
        Locker lock(m_mutex);
        if (CircuitBreaker *b = m_breaker) {
            QMetaObject::invokeMethod(b, queuedCall([b] { b->checkAutoHalfOpen(); }),
                                      Qt::QueuedConnection);
        }
    }
    void detachBreaker()
    {
        Locker lock(m_mutex);
        m_breaker = nullptr;
    }

private:
    Mutex m_mutex;
    CircuitBreaker *m_breaker; // guarded by m_mutex
};

} // namespace kompoz::detail

namespace kompoz {

//! The option state of a CircuitBreaker. Guarded by the breaker's m_mutex unless said otherwise.
struct CircuitBreaker::Extras
{
    CircuitBreakerOptions options; // failureThreshold/recoveryTimeout/halfOpenMaxCalls unused:
                                   // the breaker's own members hold the live values
    bool windowed = false; // failure-ratio or slow-call mode: calls go into `window`
    detail::OutcomeWindow window;
    int openings = 0; // consecutive openings since the breaker last closed (backoff)
    bool isolated = false;
    bool disabled = false;
    detail::Ref<detail::AutoHalfOpenTimer> autoTimer; // immutable after construction
};

} // namespace kompoz
