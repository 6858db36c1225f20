// SPDX-License-Identifier: MIT
#pragma once

//! \file liveobject.h
//! The base of the library's state objects (breaker, pool, timeout, metrics): a QObject whose
//! count properties are announced coalesced, from its own thread.

#include <kompoz/types.h>

#include <QObject>

#include <atomic>
#include <memory>

namespace kompoz {

//! Counts change on every run, in any thread; a UI wants to hear of them in its own thread and
//! not 100,000 times a second. So a LiveObject announces count changes with one queued call to
//! flushCounts() in its own thread, however many changes came before it ran, and only while
//! something is connected to it: unobserved objects pay one relaxed load per change.
//! State transitions are not coalesced: each is emitted (see CircuitBreaker).
class KOMPOZ_EXPORT LiveObject : public QObject
{
    Q_OBJECT
public:
    explicit LiveObject(QObject *parent = nullptr);
    ~LiveObject() override;

protected:
    //! Call after changing a count, in any thread, without holding a lock.
    void countsChanged()
    {
        if (m_listeners.load(std::memory_order_relaxed) > 0 &&
            !m_flushPending.exchange(true, std::memory_order_acq_rel))
            postFlush();
    }
    //! Emits the NOTIFY signals of the counts that differ from what was last emitted.
    virtual void flushCounts() = 0;

    void connectNotify(const QMetaMethod &signal) override;
    void disconnectNotify(const QMetaMethod &signal) override;

private:
    void postFlush();
    std::atomic<int> m_listeners {0};
    std::atomic<bool> m_flushPending {false};
};

//! \cond internal
namespace detail {
//! Deletes a library-owned QObject in its own thread (deleteLater when called elsewhere).
KOMPOZ_EXPORT void deleteQObject(QObject *object);

template<typename Object, typename... Args>
std::shared_ptr<Object> makeShared(Args &&...args)
{
    return std::shared_ptr<Object>(new Object(std::forward<Args>(args)...), &deleteQObject);
}
} // namespace detail
//! \endcond

} // namespace kompoz
