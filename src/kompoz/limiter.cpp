// SPDX-License-Identifier: MIT
#include "limiter.h"

#include <QCoreApplication>
#include <QHash>
#include <QLoggingCategory>

#include <vector>

namespace kompoz {

Q_LOGGING_CATEGORY(lcLimiter, "kompoz.limiter")

ConcurrencyPool::ConcurrencyPool(int maxConcurrent, const QString &name, QObject *parent)
    : LiveObject(parent), m_name(name), m_max(maxConcurrent)
{
    if (maxConcurrent < 1)
        detail::throwInvalid("ConcurrencyPool", "maxConcurrent", "must be at least 1");
}

ConcurrencyPool::~ConcurrencyPool()
{
    // Runs still queued hold no reference to the pool object: every LimitNode shares ownership
    // of it, so a pool dies only after every run through it has.
    Q_ASSERT(!m_head);
}

std::shared_ptr<ConcurrencyPool> ConcurrencyPool::named(const QString &name, int maxConcurrent)
{
    if (maxConcurrent < 1)
        detail::throwInvalid("ConcurrencyPool::named", "maxConcurrent", "must be at least 1");
    static detail::Mutex mutex;
    static QHash<QString, std::weak_ptr<ConcurrencyPool>> pools;
    detail::Locker lock(mutex);
    if (auto existing = pools.value(name).lock()) {
        if (existing->maxConcurrent() != maxConcurrent) {
            qCWarning(lcLimiter,
                      "limited(): pool '%s' already exists with maxConcurrent=%d; ignoring %d",
                      qPrintable(name), existing->maxConcurrent(), maxConcurrent);
        }
        return existing;
    }
    auto pool = detail::makeShared<ConcurrencyPool>(maxConcurrent, name);
    // A shared pool outlives the thread that happened to make it: announce its counts from the
    // application's thread, where a UI listens.
    if (auto *app = QCoreApplication::instance())
        pool->moveToThread(app->thread());
    pools.insert(name, pool);
    return pool;
}

QString ConcurrencyPool::name() const { return m_name; }

int ConcurrencyPool::maxConcurrent() const
{
    detail::Locker lock(m_mutex);
    return m_max;
}

int ConcurrencyPool::active() const
{
    detail::Locker lock(m_mutex);
    return m_active;
}

int ConcurrencyPool::queued() const
{
    detail::Locker lock(m_mutex);
    return m_queued;
}

int ConcurrencyPool::peakActive() const
{
    detail::Locker lock(m_mutex);
    return m_peak;
}

void ConcurrencyPool::resetPeak()
{
    {
        detail::Locker lock(m_mutex);
        m_peak = m_active;
    }
    countsChanged();
}

void ConcurrencyPool::setMaxConcurrent(int maxConcurrent)
{
    if (maxConcurrent < 1)
        detail::throwInvalid("ConcurrencyPool::setMaxConcurrent", "maxConcurrent",
                             "must be at least 1");
    std::vector<Waiter *> admitted;
    {
        detail::Locker lock(m_mutex);
        if (m_max == maxConcurrent)
            return;
        m_max = maxConcurrent;
        while (m_active < m_max && m_head) {
            admitted.push_back(popLocked());
            ++m_active;
        }
        m_peak = qMax(m_peak, m_active);
    }
    Q_EMIT maxConcurrentChanged(maxConcurrent);
    countsChanged();
    for (Waiter *w : admitted)
        detail::Trampoline::run(w);
}

bool ConcurrencyPool::acquire(Waiter *w)
{
    {
        detail::Locker lock(m_mutex);
        if (m_active < m_max && !m_head) {
            if (++m_active > m_peak)
                m_peak = m_active;
        } else {
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
            lock.unlock();
            countsChanged();
            return false;
        }
    }
    countsChanged();
    return true;
}

ConcurrencyPool::Waiter *ConcurrencyPool::popLocked()
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

ConcurrencyPool::Waiter *ConcurrencyPool::release()
{
    Waiter *next = nullptr;
    {
        detail::Locker lock(m_mutex);
        if (m_head && m_active <= m_max)
            next = popLocked(); // the slot passes straight to the first waiter
        else
            --m_active;
    }
    countsChanged();
    return next;
}

bool ConcurrencyPool::remove(Waiter *w)
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

void ConcurrencyPool::flushCounts()
{
    int active, queued, peak;
    {
        detail::Locker lock(m_mutex);
        active = m_active;
        queued = m_queued;
        peak = m_peak;
    }
    if (std::exchange(m_announcedActive, active) != active)
        Q_EMIT activeChanged(active);
    if (std::exchange(m_announcedQueued, queued) != queued)
        Q_EMIT queuedChanged(queued);
    if (std::exchange(m_announcedPeak, peak) != peak)
        Q_EMIT peakActiveChanged(peak);
}

} // namespace kompoz
