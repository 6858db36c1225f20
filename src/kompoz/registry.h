// SPDX-License-Identifier: MIT
#pragma once

//! \file registry.h
//! A registry of the library's state objects by name (breakers, concurrency pools, rate
//! limiters, retry policies, metrics), so a dashboard can list and watch them all, and an
//! application can save every breaker's state on exit and restore it on start.
//! \code
//! auto orders = kompoz::circuitBreaker(callOrders, 5, 30s);
//! kompoz::Registry::global()->add(u"orders"_qs, orders.sharedBreaker());
//! QObject::connect(kompoz::Registry::global(), &kompoz::Registry::added, dashboard,
//!                  [dashboard](kompoz::Registry::Kind kind, const QString &name) { ... });
//! settings.setValue("breakers", QJsonDocument(kompoz::Registry::global()->saveBreakers()).toJson());
//! \endcode

#include <kompoz/circuitbreaker.h>
#include <kompoz/limiter.h>
#include <kompoz/ratelimiter.h>
#include <kompoz/retry.h>
#include <kompoz/rollingmetrics.h>

#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QStringList>

#include <memory>

namespace kompoz {

//! Objects by kind and name. The registry shares ownership of what it holds until it is
//! removed. Thread-safe; added() and removed() are emitted outside its lock, in the thread that
//! made the change (a receiver in the GUI thread gets them queued).
class KOMPOZ_EXPORT Registry : public QObject
{
    Q_OBJECT
    Q_PROPERTY(int count READ count NOTIFY countChanged)

public:
    enum class Kind { Breaker, Pool, RateLimiter, Retry, Metrics };
    Q_ENUM(Kind)

    explicit Registry(QObject *parent = nullptr);
    ~Registry() override;

    //! The application's registry (lives until the application ends).
    static Registry *global();

    //! Adds `object` under `name`; one of the same kind and name is replaced (removed(), then
    //! added()). Throws std::invalid_argument for an empty name or a null object.
    void add(const QString &name, std::shared_ptr<CircuitBreaker> breaker);
    void add(const QString &name, std::shared_ptr<ConcurrencyPool> pool);
    void add(const QString &name, std::shared_ptr<RateLimiter> limiter);
    void add(const QString &name, std::shared_ptr<RetryPolicy> policy);
    void add(const QString &name, std::shared_ptr<RollingMetrics> metrics);
    //! True when there was one to remove.
    bool remove(Kind kind, const QString &name);
    void clear();

    std::shared_ptr<CircuitBreaker> breaker(const QString &name) const;
    std::shared_ptr<ConcurrencyPool> pool(const QString &name) const;
    std::shared_ptr<RateLimiter> rateLimiter(const QString &name) const;
    std::shared_ptr<RetryPolicy> retryPolicy(const QString &name) const;
    std::shared_ptr<RollingMetrics> metrics(const QString &name) const;
    //! The object of `kind` named `name`, as a QObject (for property-driven UIs); or null.
    Q_INVOKABLE QObject *object(kompoz::Registry::Kind kind, const QString &name) const;
    //! The names of one kind, sorted.
    Q_INVOKABLE QStringList names(kompoz::Registry::Kind kind) const;
    int count() const;

    //! Every breaker's saveState(), by name.
    QJsonObject saveBreakers() const;
    //! Restores the breakers named in `state` that are registered (others are ignored). All are
    //! checked first: if any is malformed, none is changed and false is returned.
    bool restoreBreakers(const QJsonObject &state, QString *errorString = nullptr);

Q_SIGNALS:
    void added(kompoz::Registry::Kind kind, const QString &name);
    void removed(kompoz::Registry::Kind kind, const QString &name);
    void countChanged(int count);

private:
    void insert(Kind kind, const QString &name, std::shared_ptr<QObject> object);
    std::shared_ptr<QObject> find(Kind kind, const QString &name) const;

    mutable detail::Mutex m_mutex;
    QHash<QString, std::shared_ptr<QObject>> m_objects[5]; // by Kind; guarded by m_mutex
};

} // namespace kompoz

Q_DECLARE_METATYPE(kompoz::Registry::Kind)
