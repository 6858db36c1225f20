// SPDX-License-Identifier: MIT
#pragma once

//! \file types.h
//! The values that travel between combinators and in signals: Result<T>, CircuitState, Outcome.
//! The one Q_NAMESPACE of the library lives here (moc allows only one per namespace).

#include <kompoz/kompoz_export.h>

#include <QMetaType>
#include <QObject>

namespace kompoz {
Q_NAMESPACE_EXPORT(KOMPOZ_EXPORT)

//! kompoz's `(ok, ctx)` tuple. An aggregate, so structured bindings work:
//! \code
//! auto [ok, user] = check.run(user).result();
//! \endcode
template<typename T>
struct Result
{
    bool ok;
    T ctx;
};

//! A circuit breaker's state (kompoz's CircuitState).
enum class CircuitState { Closed, Open, HalfOpen };
Q_ENUM_NS(CircuitState)

//! How one run ended, as a metrics object or a dashboard counts it. A run that passes through a
//! timeout or a breaker carries the reason that layer gave (TimedOut, Rejected).
enum class Outcome {
    Success, //!< ok == true
    Failure, //!< ok == false from the work itself
    TimedOut, //!< ended by a timeout
    Rejected, //!< refused without running (open breaker, full queue)
    Error, //!< the work threw
    Canceled //!< the caller cancelled the run
};
Q_ENUM_NS(Outcome)

//! "Closed", "Open", "HalfOpen": for logs and labels.
KOMPOZ_EXPORT QString toString(CircuitState state);
KOMPOZ_EXPORT QString toString(Outcome outcome);

} // namespace kompoz

Q_DECLARE_METATYPE(kompoz::CircuitState)
Q_DECLARE_METATYPE(kompoz::Outcome)
