//! The schemas of a plan's ports: what a connection may join, and which
//! package defines each package schema a port names. Builtin schemas match
//! by `Accepts`; package schemas by name and version (same major, the
//! producer's minor at least the consumer's), and travel as `record`.

use ipc_schemas::{Accepts, SchemaId};

use crate::load::catalog::{Catalog, TypeInfo};
use crate::package::manifest::schemas::PortSchema;
use crate::package::manifest::PortDecl;

/// One end of a connection: the processor's id, its type and the port.
pub struct End<'a> {
    pub id: &'a str,
    pub info: &'a TypeInfo,
    pub port: &'a PortDecl,
}

impl End<'_> {
    /// `` `det` (acme.detector@1.0.0) ``.
    fn who(&self) -> String {
        format!("`{}` ({})", self.id, self.info.package_id())
    }
}

/// Checks that `from` may feed `to` (`named` is the connection, for
/// messages) and returns what the input accepts on the wire.
pub fn connect(named: &str, from: &End, to: &End) -> Result<Accepts, String> {
    let sent = PortSchema::output(&from.port.schema).expect("manifests checked output schemas");
    let taken = PortSchema::input(&to.port.schema).expect("manifests checked input schemas");
    let refuse = |why: &str| {
        format!(
            "{named}: {} sends {} but {} takes {}{why}",
            from.who(),
            from.port.schema,
            to.who(),
            to.port.schema
        )
    };
    match (&sent, &taken) {
        (PortSchema::Package(p), PortSchema::Package(c)) => {
            p.serves(c).map_err(|why| refuse(&format!("; {why}")))?
        }
        (PortSchema::Builtin(Accepts::Exactly(s)), PortSchema::Builtin(accepts)) => {
            if !accepts.admits(*s) {
                return Err(refuse(""));
            }
        }
        (PortSchema::Package(_), PortSchema::Builtin(Accepts::Any)) => {}
        _ => return Err(refuse("")),
    }
    Ok(taken.wire())
}

/// The wire schema of a port, once the package schema it names (if any)
/// is known to be defined by one of the pipeline's packages at a version
/// that serves it. `id` is the processor, `kind` "input" or "output".
pub fn resolve(
    catalog: &Catalog,
    id: &str,
    info: &TypeInfo,
    kind: &str,
    port: &PortDecl,
) -> Result<Accepts, String> {
    let schema = match kind {
        "output" => PortSchema::output(&port.schema),
        _ => PortSchema::input(&port.schema),
    }
    .expect("manifests checked port schemas");
    if let PortSchema::Package(wanted) = &schema {
        let who = format!(
            "processor `{id}` ({}) {kind} `{}` names {wanted}",
            info.package_id(),
            port.name
        );
        let def = catalog.schema(&wanted.name).ok_or_else(|| {
            format!("{who}, which no package of the pipeline defines; list the package that defines it in `packages:`")
        })?;
        def.layout.id.serves(wanted).map_err(|why| {
            format!(
                "{who}, but {} defines {}; {why}",
                def.package, def.layout.id
            )
        })?;
    }
    Ok(schema.wire())
}

/// An output's schema on the wire.
pub fn output(
    catalog: &Catalog,
    id: &str,
    info: &TypeInfo,
    port: &PortDecl,
) -> Result<SchemaId, String> {
    match resolve(catalog, id, info, "output", port)? {
        Accepts::Exactly(schema) => Ok(schema),
        _ => unreachable!("an output names one schema"),
    }
}
