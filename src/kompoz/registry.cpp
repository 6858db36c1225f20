// SPDX-License-Identifier: MIT
#include "registry.h"

#include <QCoreApplication>

#include <algorithm>

namespace kompoz {

Registry::Registry(QObject *parent) : QObject(parent)
{
    qRegisterMetaType<kompoz::Registry::Kind>();
}

Registry::~Registry() = default;

Registry *Registry::global()
{
    // Never destroyed: breakers may still be in use by late static destructors.
    static Registry *registry = [] {
        auto *r = new Registry;
        if (auto *app = QCoreApplication::instance())
            r->moveToThread(app->thread());
        return r;
    }();
    return registry;
}

void Registry::insert(Kind kind, const QString &name, std::shared_ptr<QObject> object)
{
    if (name.isEmpty())
        detail::throwInvalid("Registry::add", "name", "is empty");
    if (!object)
        detail::throwInvalid("Registry::add", "object", "is null");
    std::shared_ptr<QObject> previous; // released outside the lock
    int n;
    {
        detail::Locker lock(m_mutex);
        auto &objects = m_objects[int(kind)];
        auto it = objects.find(name);
        if (it != objects.end()) {
            if (it.value() == object)
                return;
            previous = std::exchange(it.value(), std::move(object));
        } else {
            objects.insert(name, std::move(object));
        }
        n = 0;
        for (const auto &h : m_objects)
            n += int(h.size());
    }
    if (previous)
        Q_EMIT removed(kind, name);
    Q_EMIT added(kind, name);
    Q_EMIT countChanged(n);
}

void Registry::add(const QString &name, std::shared_ptr<CircuitBreaker> b)
{
    insert(Kind::Breaker, name, std::move(b));
}
void Registry::add(const QString &name, std::shared_ptr<ConcurrencyPool> p)
{
    insert(Kind::Pool, name, std::move(p));
}
void Registry::add(const QString &name, std::shared_ptr<RateLimiter> l)
{
    insert(Kind::RateLimiter, name, std::move(l));
}
void Registry::add(const QString &name, std::shared_ptr<RetryPolicy> p)
{
    insert(Kind::Retry, name, std::move(p));
}
void Registry::add(const QString &name, std::shared_ptr<RollingMetrics> m)
{
    insert(Kind::Metrics, name, std::move(m));
}

bool Registry::remove(Kind kind, const QString &name)
{
    std::shared_ptr<QObject> gone;
    int n = 0;
    {
        detail::Locker lock(m_mutex);
        auto &objects = m_objects[int(kind)];
        auto it = objects.find(name);
        if (it == objects.end())
            return false;
        gone = std::move(it.value());
        objects.erase(it);
        for (const auto &h : m_objects)
            n += int(h.size());
    }
    Q_EMIT removed(kind, name);
    Q_EMIT countChanged(n);
    return true;
}

void Registry::clear()
{
    for (int k = 0; k < 5; ++k) {
        for (const QString &name : names(Kind(k)))
            remove(Kind(k), name);
    }
}

std::shared_ptr<QObject> Registry::find(Kind kind, const QString &name) const
{
    detail::Locker lock(m_mutex);
    return m_objects[int(kind)].value(name);
}

std::shared_ptr<CircuitBreaker> Registry::breaker(const QString &name) const
{
    return std::static_pointer_cast<CircuitBreaker>(find(Kind::Breaker, name));
}
std::shared_ptr<ConcurrencyPool> Registry::pool(const QString &name) const
{
    return std::static_pointer_cast<ConcurrencyPool>(find(Kind::Pool, name));
}
std::shared_ptr<RateLimiter> Registry::rateLimiter(const QString &name) const
{
    return std::static_pointer_cast<RateLimiter>(find(Kind::RateLimiter, name));
}
std::shared_ptr<RetryPolicy> Registry::retryPolicy(const QString &name) const
{
    return std::static_pointer_cast<RetryPolicy>(find(Kind::Retry, name));
}
std::shared_ptr<RollingMetrics> Registry::metrics(const QString &name) const
{
    return std::static_pointer_cast<RollingMetrics>(find(Kind::Metrics, name));
}

QObject *Registry::object(Kind kind, const QString &name) const
{
    return find(kind, name).get(); // the registry keeps it alive while it is registered
}

QStringList Registry::names(Kind kind) const
{
    QStringList out;
    {
        detail::Locker lock(m_mutex);
        out = m_objects[int(kind)].keys();
    }
    std::sort(out.begin(), out.end());
    return out;
}

int Registry::count() const
{
    detail::Locker lock(m_mutex);
    int n = 0;
    for (const auto &h : m_objects)
        n += int(h.size());
    return n;
}

QJsonObject Registry::saveBreakers() const
{
    QJsonObject out;
    for (const QString &name : names(Kind::Breaker)) {
        if (auto b = breaker(name))
            out.insert(name, b->saveState());
    }
    return out;
}

bool Registry::restoreBreakers(const QJsonObject &state, QString *errorString)
{
    // Check every entry on a scratch breaker first, so that one bad entry changes nothing.
    for (auto it = state.begin(); it != state.end(); ++it) {
        if (!breaker(it.key()))
            continue;
        QString error;
        CircuitBreaker scratch;
        if (!it.value().isObject() || !scratch.restoreState(it.value().toObject(), &error)) {
            if (errorString)
                *errorString = QStringLiteral("Registry::restoreBreakers: '%1': %2")
                                       .arg(it.key(),
                                            error.isEmpty() ? QStringLiteral("not an object")
                                                            : error);
            return false;
        }
    }
    for (auto it = state.begin(); it != state.end(); ++it) {
        if (auto b = breaker(it.key()))
            b->restoreState(it.value().toObject());
    }
    return true;
}

} // namespace kompoz
