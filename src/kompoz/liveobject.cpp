// SPDX-License-Identifier: MIT
#include "liveobject.h"

#include <kompoz/runtime.h>

#include <QMetaMethod>
#include <QThread>

namespace kompoz {

LiveObject::LiveObject(QObject *parent) : QObject(parent) { }

LiveObject::~LiveObject() = default;

void LiveObject::connectNotify(const QMetaMethod &signal)
{
    Q_UNUSED(signal)
    m_listeners.fetch_add(1, std::memory_order_relaxed);
}

void LiveObject::disconnectNotify(const QMetaMethod &signal)
{
    // Qt also calls this with an invalid method for a disconnect of everything.
    if (signal.isValid())
        m_listeners.fetch_sub(1, std::memory_order_relaxed);
    else
        m_listeners.store(0, std::memory_order_relaxed);
}

void LiveObject::postFlush()
{
    QMetaObject::invokeMethod(this, detail::queuedCall([this] {
                                  m_flushPending.store(false, std::memory_order_release);
                                  flushCounts();
                              }),
                              Qt::QueuedConnection);
}

namespace detail {
void deleteQObject(QObject *object)
{
    if (!object)
        return;
    if (object->thread() == QThread::currentThread())
        delete object;
    else
        object->deleteLater();
}
} // namespace detail

} // namespace kompoz
