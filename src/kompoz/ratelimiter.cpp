// SPDX-License-Identifier: MIT
#include "ratelimiter.h"

#include <QMetaMethod>

#include <cmath>
#include <vector>

namespace kompoz {

// The timer entry that wakes waiting runs. It holds the limiter weakly: a limiter whose last
// handle is dropped while a wakeup is pending is simply not woken.
class RateLimiter::Wakeup final : public detail::TimerEntry
{
public:
    void fire() override
    {
        std::shared_ptr<RateLimiter> limiter;
        {
            detail::Locker lock(m_mutex);
            limiter = m_limiter.lock();
        }
        if (!limiter)
            return;
        {
            detail::Locker lock(limiter->m_mutex);
            limiter->m_wakePending = false;
        }
        limiter->poll();
    }
    void setLimiter(std::weak_ptr<RateLimiter> l)
    {
        detail::Locker lock(m_mutex);
        m_limiter = std::move(l);
    }

private:
    detail::Mutex m_mutex;
    std::weak_ptr<RateLimiter> m_limiter; // guarded by m_mutex
};

RateLimiter::RateLimiter(int permits, std::chrono::nanoseconds per, int burst, int queueLimit,
                         QObject *parent)
    : LiveObject(parent),
      m_permits(permits),
      m_per(per),
      m_burst(burst),
      m_queueLimit(queueLimit),
      m_tokens(burst),
      m_clock(Clock::system()),
      m_wakeup(detail::Ref<detail::TimerEntry>::adopt(new Wakeup))
{
    if (permits < 1)
        detail::throwInvalid("RateLimiter", "permits", "must be at least 1");
    if (per.count() <= 0)
        detail::throwInvalid("RateLimiter", "per", "must be greater than zero");
    if (burst < 1)
        detail::throwInvalid("RateLimiter", "burst", "must be at least 1");
    if (queueLimit < 0)
        detail::throwInvalid("RateLimiter", "queueLimit", "must not be negative");
    m_refilledAt = m_clock->monotonicNow().count();
}

RateLimiter::~RateLimiter()
{
    detail::TimerService::instance().remove(m_wakeup.get());
    // Runs still queued hold no reference to the limiter: every RateNode shares ownership of
    // it, so it dies only after every run through it has.
    Q_ASSERT(!m_head);
}

std::shared_ptr<RateLimiter> RateLimiter::create(int permits, std::chrono::nanoseconds per,
                                                 int burst, int queueLimit)
{
    auto limiter = detail::makeShared<RateLimiter>(permits, per, burst, queueLimit);
    static_cast<Wakeup *>(limiter->m_wakeup.get())->setLimiter(limiter);
    return limiter;
}

qint64 RateLimiter::perMs() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(m_per).count();
}

void RateLimiter::refillLocked(qint64 nowNs)
{
    const qint64 elapsed = nowNs - m_refilledAt;
    if (elapsed <= 0)
        return;
    m_refilledAt = nowNs;
    m_tokens = qMin(double(m_burst),
                    m_tokens + double(elapsed) * m_permits / double(m_per.count()));
}

int RateLimiter::availablePermits() const
{
    detail::Locker lock(m_mutex);
    const_cast<RateLimiter *>(this)->refillLocked(m_clock->monotonicNow().count());
    return int(std::floor(m_tokens));
}

int RateLimiter::queued() const
{
    detail::Locker lock(m_mutex);
    return m_queued;
}

void RateLimiter::setClock(const Clock *clock)
{
    detail::Locker lock(m_mutex);
    m_clock = clock ? clock : Clock::system();
    m_refilledAt = m_clock->monotonicNow().count();
    m_tokens = m_burst;
}

bool RateLimiter::tryTake()
{
    {
        detail::Locker lock(m_mutex);
        if (m_head)
            return false; // first come, first served
        refillLocked(m_clock->monotonicNow().count());
        if (m_tokens < 1)
            return false;
        m_tokens -= 1;
    }
    m_admitted.fetch_add(1, std::memory_order_relaxed);
    countsChanged();
    return true;
}

RateLimiter::Decision RateLimiter::tryAdmit()
{
    {
        detail::Locker lock(m_mutex);
        refillLocked(m_clock->monotonicNow().count());
        if (!m_head && m_tokens >= 1) {
            m_tokens -= 1;
        } else if (m_queued < m_queueLimit) {
            return Decision::Queued;
        } else {
            lock.unlock();
            noteRejected();
            return Decision::Rejected;
        }
    }
    m_admitted.fetch_add(1, std::memory_order_relaxed);
    countsChanged();
    return Decision::Admitted;
}

void RateLimiter::noteRejected()
{
    m_rejected.fetch_add(1, std::memory_order_relaxed);
    static const QMetaMethod signal = QMetaMethod::fromSignal(&RateLimiter::callRejected);
    if (isSignalConnected(signal))
        Q_EMIT callRejected();
    countsChanged();
}

RateLimiter::Decision RateLimiter::acquire(Waiter *w)
{
    Decision d;
    {
        detail::Locker lock(m_mutex);
        refillLocked(m_clock->monotonicNow().count());
        if (!m_head && m_tokens >= 1) {
            m_tokens -= 1;
            d = Decision::Admitted;
        } else if (m_queued < m_queueLimit) {
            w->ref();
            w->m_queued = true;
            w->m_nextWaiter = nullptr;
            w->m_prevWaiter = m_tail;
            if (m_tail)
                m_tail->m_nextWaiter = w;
            else
                m_head = w;
            m_tail = w;
            ++m_queued;
            scheduleLocked();
            d = Decision::Queued;
        } else {
            d = Decision::Rejected;
        }
    }
    if (d == Decision::Rejected) {
        noteRejected();
        return d;
    }
    if (d == Decision::Admitted)
        m_admitted.fetch_add(1, std::memory_order_relaxed);
    countsChanged();
    return d;
}

RateLimiter::Waiter *RateLimiter::popLocked()
{
    Waiter *w = m_head;
    m_head = w->m_nextWaiter;
    if (m_head)
        m_head->m_prevWaiter = nullptr;
    else
        m_tail = nullptr;
    w->m_nextWaiter = w->m_prevWaiter = nullptr;
    w->m_queued = false;
    --m_queued;
    return w;
}

bool RateLimiter::remove(Waiter *w)
{
    {
        detail::Locker lock(m_mutex);
        if (!w->m_queued)
            return false;
        if (w->m_prevWaiter)
            w->m_prevWaiter->m_nextWaiter = w->m_nextWaiter;
        else
            m_head = w->m_nextWaiter;
        if (w->m_nextWaiter)
            w->m_nextWaiter->m_prevWaiter = w->m_prevWaiter;
        else
            m_tail = w->m_prevWaiter;
        w->m_nextWaiter = w->m_prevWaiter = nullptr;
        w->m_queued = false;
        --m_queued;
    }
    countsChanged();
    return true;
}

// Wakes the queue when the next token is due. The deadline is in real time; with a
// ManualClock that did not move, the wakeup finds no token and schedules another.
void RateLimiter::scheduleLocked()
{
    if (!m_head || m_wakePending)
        return;
    const double missing = qMax(0.0, 1.0 - m_tokens);
    const double waitNs = missing * double(m_per.count()) / m_permits;
    const auto wait = std::chrono::nanoseconds(qint64(qMin(waitNs, 3600e9)));
    m_wakePending = true;
    // The timer service never calls back under its own lock: taking it under ours is safe.
    detail::TimerService::instance().add(m_wakeup.get(),
                                         std::chrono::steady_clock::now() +
                                                 qMax(wait, std::chrono::nanoseconds(1000000)));
}

void RateLimiter::poll()
{
    std::vector<Waiter *> admitted;
    {
        detail::Locker lock(m_mutex);
        refillLocked(m_clock->monotonicNow().count());
        while (m_head && m_tokens >= 1) {
            m_tokens -= 1;
            admitted.push_back(popLocked());
        }
        scheduleLocked();
    }
    if (admitted.empty())
        return;
    m_admitted.fetch_add(int(admitted.size()), std::memory_order_relaxed);
    m_delayed.fetch_add(int(admitted.size()), std::memory_order_relaxed);
    countsChanged();
    // In order, through the trampoline: a run that finishes at once must not start the next
    // from inside its own completion.
    for (Waiter *w : admitted)
        detail::Trampoline::run(w);
}

void RateLimiter::flushCounts()
{
    const int queuedNow = queued();
    if (std::exchange(m_announcedQueued, queuedNow) != queuedNow)
        Q_EMIT queuedChanged(queuedNow);
    const int admitted = admittedCount();
    if (std::exchange(m_announcedAdmitted, admitted) != admitted)
        Q_EMIT admittedCountChanged(admitted);
    const int delayed = delayedCount();
    if (std::exchange(m_announcedDelayed, delayed) != delayed)
        Q_EMIT delayedCountChanged(delayed);
    const int rejected = rejectedCount();
    if (std::exchange(m_announcedRejected, rejected) != rejected)
        Q_EMIT rejectedCountChanged(rejected);
}

} // namespace kompoz
