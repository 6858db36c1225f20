// SPDX-License-Identifier: MIT
#include "runtime.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QSemaphore>
#include <QThread>
#include <QTimer>

#include <map>
#include <vector>

namespace kompoz {

QString toString(CircuitState state)
{
    switch (state) {
    case CircuitState::Closed:
        return QStringLiteral("Closed");
    case CircuitState::Open:
        return QStringLiteral("Open");
    case CircuitState::HalfOpen:
        return QStringLiteral("HalfOpen");
    }
    return {};
}

QString toString(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Success:
        return QStringLiteral("Success");
    case Outcome::Failure:
        return QStringLiteral("Failure");
    case Outcome::TimedOut:
        return QStringLiteral("TimedOut");
    case Outcome::Rejected:
        return QStringLiteral("Rejected");
    case Outcome::Error:
        return QStringLiteral("Error");
    case Outcome::Canceled:
        return QStringLiteral("Canceled");
    }
    return {};
}

namespace detail {

RefCounted::~RefCounted() = default;
Deferred::~Deferred() = default;

// ---------------------------------------------------------------------------------------------
// Scope

Scope::Scope(Scope *parent) : m_parent(parent)
{
    if (m_parent)
        m_parent->ref();
}

Scope::~Scope()
{
    for (Cancelable *c : std::as_const(m_attached))
        c->deref();
    if (m_parent)
        m_parent->deref();
}

bool Scope::isCanceled() const
{
    const Scope *s = this;
    for (;;) {
        if (s->m_canceled.load(std::memory_order_acquire))
            return true;
        if (!s->m_parent)
            return s->probeCanceled();
        s = s->m_parent;
    }
}

void Scope::cancel()
{
    if (m_canceled.exchange(true, std::memory_order_acq_rel))
        return;
    QVarLengthArray<Cancelable *, 2> attached;
    {
        Locker lock(m_mutex);
        attached = std::move(m_attached);
        m_attached.clear();
    }
    // Outside the lock: cancelling a task's future or a queue place may complete runs, which
    // may detach from this very scope.
    for (Cancelable *c : std::as_const(attached)) {
        c->cancel();
        c->deref();
    }
    onCanceled();
}

bool Scope::attach(Cancelable *c)
{
    Locker lock(m_mutex);
    if (m_canceled.load(std::memory_order_acquire))
        return false;
    c->ref();
    m_attached.append(c);
    return true;
}

void Scope::detach(Cancelable *c)
{
    bool found = false;
    {
        Locker lock(m_mutex);
        for (qsizetype i = 0; i < m_attached.size(); ++i) {
            if (m_attached[i] == c) {
                m_attached.remove(i);
                found = true;
                break;
            }
        }
    }
    if (found)
        c->deref();
}

// ---------------------------------------------------------------------------------------------
// Trampoline

namespace {
struct TrampolineState
{
    bool active = false;
    Deferred *head = nullptr;
    Deferred *tail = nullptr;
};
thread_local TrampolineState t_trampoline;
} // namespace

void Trampoline::run(Deferred *d)
{
    TrampolineState &t = t_trampoline;
    if (t.active) {
        d->m_nextDeferred = nullptr;
        if (t.tail)
            t.tail->m_nextDeferred = d;
        else
            t.head = d;
        t.tail = d;
        return;
    }
    t.active = true;
    d->runDeferred();
    while (Deferred *next = t.head) {
        t.head = next->m_nextDeferred;
        if (!t.head)
            t.tail = nullptr;
        next->runDeferred();
    }
    t.active = false;
}

// ---------------------------------------------------------------------------------------------
// TimerService

namespace {
qint64 steadyMs(std::chrono::steady_clock::time_point t)
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(t.time_since_epoch()).count();
}
qint64 steadyNowMs() { return steadyMs(std::chrono::steady_clock::now()); }
constexpr qint64 NotScheduled = -1;
} // namespace

class TimerService::Private
{
public:
    mutable Mutex mutex;
    std::map<qint64, TimerEntry *> buckets; // guarded by mutex; each a doubly-linked list
    int pending = 0; // guarded by mutex
    WatchedRun *watchHead = nullptr; // guarded by mutex
    WatchedRun *sweepCursor = nullptr; // guarded by mutex: where the next sweep goes on
    int watched = 0; // guarded by mutex
    qint64 nextSweepAt = NotScheduled; // guarded by mutex
    qint64 scheduledAt = NotScheduled; // guarded by mutex: when the QTimer will fire next
    QThread *thread = nullptr; // guarded by mutex
    QObject *context = nullptr; // guarded by mutex: lives in the service thread while it runs
    QTimer *timer = nullptr; // set and used only in the service thread

    void ensureThreadLocked();
    void unlinkWatchedLocked(WatchedRun *w);
    void requestWakeLocked(qint64 atMs);
    void onTimer();
    void stop();
};

void TimerService::Private::ensureThreadLocked()
{
    if (thread)
        return;
    thread = QThread::create([this] {
        QObject ctx;
        QTimer t;
        t.setSingleShot(true);
        t.setTimerType(Qt::PreciseTimer);
        QObject::connect(&t, &QTimer::timeout, &ctx, [this] { onTimer(); });
        timer = &t;
        {
            Locker lock(mutex);
            context = &ctx;
        }
        // Deadlines added before the loop ran are picked up by this first pass.
        onTimer();
        QEventLoop loop;
        loop.exec();
        Locker lock(mutex);
        context = nullptr;
        timer = nullptr;
    });
    thread->setObjectName(QStringLiteral("kompoz-timers"));
    thread->start();
    if (QCoreApplication::instance()) {
        // The thread must be gone before QCoreApplication's destructor tears down what its
        // event dispatcher relies on.
        qAddPostRoutine([] { TimerService::instance().d->stop(); });
    }
}

void TimerService::Private::stop()
{
    QThread *t = nullptr;
    {
        Locker lock(mutex);
        t = std::exchange(thread, nullptr);
        scheduledAt = NotScheduled;
    }
    if (!t)
        return;
    t->quit();
    t->wait();
    delete t;
    // The application is going away and no timer will run again: end every run still waiting
    // for a deadline now, as timed out, rather than leave its future unfinished forever.
    std::vector<TimerEntry *> due;
    {
        Locker lock(mutex);
        for (auto &[ms, head] : buckets) {
            for (TimerEntry *e = head; e; e = e->m_next) {
                e->m_bucket = NotScheduled;
                due.push_back(e);
            }
        }
        buckets.clear();
        pending = 0;
    }
    for (TimerEntry *e : due) {
        e->fire();
        e->deref();
    }
}

void TimerService::Private::requestWakeLocked(qint64 atMs)
{
    ensureThreadLocked();
    if (scheduledAt != NotScheduled && scheduledAt <= atMs)
        return; // the timer already fires early enough
    scheduledAt = atMs;
    if (!context)
        return; // the thread is starting; its first pass schedules the timer
    // Only when the earliest deadline moves earlier: with timeouts of one duration the
    // deadlines grow monotonically and this post happens once per burst, not once per run.
    QMetaObject::invokeMethod(context, queuedCall([this] {
                                  qint64 at;
                                  {
                                      Locker lock(mutex);
                                      at = scheduledAt;
                                  }
                                  if (at != NotScheduled && timer)
                                      timer->start(int(qBound<qint64>(0, at - steadyNowMs(),
                                                                      qint64(24) * 3600 * 1000)));
                              }),
                              Qt::QueuedConnection);
}

void TimerService::Private::unlinkWatchedLocked(WatchedRun *w)
{
    if (sweepCursor == w)
        sweepCursor = w->m_nextWatched;
    if (w->m_prevWatched)
        w->m_prevWatched->m_nextWatched = w->m_nextWatched;
    else
        watchHead = w->m_nextWatched;
    if (w->m_nextWatched)
        w->m_nextWatched->m_prevWatched = w->m_prevWatched;
    w->m_prevWatched = w->m_nextWatched = nullptr;
    w->m_watched = false;
    --watched;
}

void TimerService::Private::onTimer()
{
    std::vector<TimerEntry *> due;
    std::vector<WatchedRun *> canceled;
    qint64 next = NotScheduled;
    {
        Locker lock(mutex);
        const qint64 now = steadyNowMs();
        while (!buckets.empty() && buckets.begin()->first <= now) {
            for (TimerEntry *e = buckets.begin()->second; e; e = e->m_next) {
                e->m_bucket = NotScheduled;
                due.push_back(e); // the service's reference moves to `due`
            }
            buckets.erase(buckets.begin());
        }
        pending -= int(due.size());
        if (watchHead && (nextSweepAt == NotScheduled || now >= nextSweepAt)) {
            // Round-robin with a budget: with 100,000 runs pending a full pass every tick
            // would cost more than the runs themselves; a cancellation is then noticed within
            // (pending / budget) ticks instead of one.
            int budget = qMin(watched, sweepBudget);
            WatchedRun *w = sweepCursor ? sweepCursor : watchHead;
            while (budget-- > 0 && w) {
                WatchedRun *after = w->m_nextWatched;
                if (w->needsSweep()) {
                    unlinkWatchedLocked(w);
                    canceled.push_back(w); // the list's reference moves to `canceled`
                }
                w = after ? after : watchHead;
            }
            sweepCursor = w;
            nextSweepAt = now + sweepInterval.count();
        }
        if (!buckets.empty())
            next = buckets.begin()->first;
        if (watchHead)
            next = next == NotScheduled ? nextSweepAt : qMin(next, nextSweepAt);
        else
            nextSweepAt = NotScheduled;
        scheduledAt = next;
        if (next != NotScheduled && timer)
            timer->start(int(qBound<qint64>(0, next - now, qint64(24) * 3600 * 1000)));
    }
    for (TimerEntry *e : due) {
        e->fire();
        e->deref();
    }
    for (WatchedRun *w : canceled) {
        w->sweep();
        w->deref();
    }
}

TimerService::TimerService() : d(new Private) { }

TimerService::~TimerService()
{
    d->stop();
    // Entries still pending keep their reference: their owners may still point at them, and
    // at static destruction nobody runs them any more. `d` is leaked for the same reason.
}

TimerService &TimerService::instance()
{
    static TimerService service;
    return service;
}

void TimerService::add(TimerEntry *e, std::chrono::steady_clock::time_point deadline)
{
    e->ref();
    const qint64 ms = steadyMs(deadline) + 1; // round up: never fire early
    Locker lock(d->mutex);
    auto [it, inserted] = d->buckets.try_emplace(ms, nullptr);
    e->m_prev = nullptr;
    e->m_next = it->second;
    if (e->m_next)
        e->m_next->m_prev = e;
    it->second = e;
    e->m_bucket = ms;
    ++d->pending;
    if (inserted)
        d->requestWakeLocked(ms);
}

bool TimerService::remove(TimerEntry *e)
{
    {
        Locker lock(d->mutex);
        if (e->m_bucket == NotScheduled)
            return false;
        if (e->m_prev) {
            e->m_prev->m_next = e->m_next;
        } else {
            auto it = d->buckets.find(e->m_bucket);
            Q_ASSERT(it != d->buckets.end());
            it->second = e->m_next;
            if (!it->second)
                d->buckets.erase(it);
        }
        if (e->m_next)
            e->m_next->m_prev = e->m_prev;
        e->m_prev = e->m_next = nullptr;
        e->m_bucket = NotScheduled;
        --d->pending;
    }
    e->deref();
    return true;
}

void TimerService::watch(WatchedRun *run)
{
    run->ref();
    Locker lock(d->mutex);
    run->m_prevWatched = nullptr;
    run->m_nextWatched = d->watchHead;
    if (d->watchHead)
        d->watchHead->m_prevWatched = run;
    d->watchHead = run;
    run->m_watched = true;
    ++d->watched;
    if (d->nextSweepAt == NotScheduled) {
        d->nextSweepAt = steadyNowMs() + sweepInterval.count();
        d->requestWakeLocked(d->nextSweepAt);
    }
}

void TimerService::unwatch(WatchedRun *run)
{
    {
        Locker lock(d->mutex);
        if (!run->m_watched)
            return;
        d->unlinkWatchedLocked(run);
    }
    run->deref();
}

int TimerService::pendingTimers() const
{
    Locker lock(d->mutex);
    return d->pending;
}

int TimerService::watchedRuns() const
{
    Locker lock(d->mutex);
    return d->watched;
}

} // namespace detail
} // namespace kompoz
