//! The keeper's rules on file names taken from `/dev/shm` during a real run
//! of `camera (native) -> invert (Python) -> stats (native)`, runtime
//! `debdd5f8`, whose processes were the supervisor 24099, camera's worker
//! 24102, invert's 24105 and stats' 24108.

use super::*;

const PREFIX: &str = "plexus_debdd5f8_";
const SUPERVISOR: u32 = 24099;
const CAMERA: u32 = 24102;
const INVERT: u32 = 24105;
const STATS: u32 = 24108;

/// camera's output segment and its management part.
const CAMERA_DATA: &str = "plexus_debdd5f8_0354a209029e7d094a819e2d4030ea331e6caaf0_475369419691661240964034412487__0.data";
const CAMERA_MGMT: &str = "plexus_debdd5f8_0354a209029e7d094a819e2d4030ea331e6caaf0_475369419691661240964034412487__mgmt.data";
/// invert's output segment.
const INVERT_DATA: &str = "plexus_debdd5f8_0354a209029e7d094a819e2d4030ea331e6caaf0_396141257233534700444276834247__0.data";
/// The supervisor's command channel to a worker.
const SUPERVISOR_DATA: &str = "plexus_debdd5f8_0354a209029e7d094a819e2d4030ea331e6caaf0_1426107369807259430283234066375__0.data";
/// camera -> invert, and invert -> stats.
const CAMERA_TO_INVERT: &str = "plexus_debdd5f8_b9fc73e5c1f646968758453273c6c65cb372831b_475369419691661240964034412487_554597582262073538700808110023.connection";
const INVERT_TO_STATS: &str = "plexus_debdd5f8_b9fc73e5c1f646968758453273c6c65cb372831b_396141257233534700444276834247_475369419802351280468942471111.connection";
/// A service's dynamic configuration, made by the supervisor.
const DYNAMIC: &str = "plexus_debdd5f8_112437a14a36c452eeea7e2aefc2af954fc5a3f2_237684932093239170582827843527.dynamic";
/// An event service's management segment, made by invert's worker.
const EVENT_MGMT: &str = "plexus_debdd5f8_33c1ac61b54bf6edd0a0a8390f0c2fd7cf74d745_158456769689927056616702689223.event_mgmt";
const GLOBAL_MGMT: &str =
    "plexus_debdd5f8_9204dd183d1c4d8e1ff592a30766ffa6765aa8b5_node.0_10_0.global_mgmt";

const READ: i32 = libc::O_RDONLY;
const WRITE: i32 = libc::O_RDWR;
const CREATE: i32 = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;

fn processors(pid: u32) -> Vec<String> {
    let name = match pid {
        CAMERA => "camera",
        INVERT => "invert",
        STATS => "stats",
        _ => return Vec::new(),
    };
    vec![name.to_string()]
}

fn check_as(pid: u32, name: &str, access: Access) -> Result<(), Refusal> {
    let hosted = processors(pid);
    let requester = Requester {
        pid,
        processors: &hosted,
    };
    let alive = |pid| [SUPERVISOR, CAMERA, INVERT, STATS].contains(&pid);
    check(PREFIX, name.as_bytes(), requester, access, alive)
}

fn open_as(pid: u32, name: &str, flags: i32) -> Result<(), Refusal> {
    check_as(pid, name, Access::Open { flags })
}

#[test]
fn the_pid_is_the_third_word_of_a_unique_system_id() {
    assert_eq!(pid_of(475369419691661240964034412487), CAMERA);
    assert_eq!(pid_of(554597582262073538700808110023), INVERT);
    assert_eq!(pid_of(475369419802351280468942471111), STATS);
    assert_eq!(pid_of(1426107369807259430283234066375), SUPERVISOR);
}

#[test]
fn real_names_are_recognised() {
    let strip = |name: &'static str| name.strip_prefix(PREFIX).unwrap();
    assert_eq!(
        ShmFile::parse(strip(CAMERA_MGMT)),
        Some(ShmFile::Data {
            port: 475369419691661240964034412487
        })
    );
    assert_eq!(
        ShmFile::parse(strip(CAMERA_TO_INVERT)).unwrap().owners(),
        vec![CAMERA, INVERT]
    );
    assert_eq!(
        ShmFile::parse(strip(DYNAMIC)).unwrap().owners(),
        vec![SUPERVISOR]
    );
    assert_eq!(
        ShmFile::parse(strip(GLOBAL_MGMT)),
        Some(ShmFile::Shared { id: None })
    );
    assert_eq!(
        ShmFile::parse("counts_camera"),
        Some(ShmFile::Counters {
            processor: "camera"
        })
    );
    for odd in [
        "owner",
        "owner.partial",
        "root",
        "counts_../x",
        "0354a209029e7d094a819e2d4030ea331e6caaf0_12__x.data",
        "0354a209029e7d094a819e2d4030ea331e6caaf0_+12__0.data",
        "zz54a209029e7d094a819e2d4030ea331e6caaf0_12__0.data",
        "b9fc73e5c1f646968758453273c6c65cb372831b_1_2_3.connection",
    ] {
        assert_eq!(ShmFile::parse(odd), None, "{odd}");
    }
}

#[test]
fn a_publisher_alone_writes_its_segments_and_anyone_reads_them() {
    assert_eq!(open_as(CAMERA, CAMERA_DATA, WRITE), Ok(()));
    assert_eq!(open_as(CAMERA, CAMERA_MGMT, CREATE), Ok(()));
    assert_eq!(open_as(INVERT, CAMERA_DATA, READ), Ok(()));
    assert_eq!(
        open_as(INVERT, CAMERA_DATA, WRITE),
        Err(Refusal::Foreign { owner: CAMERA })
    );
    assert_eq!(
        open_as(STATS, INVERT_DATA, libc::O_WRONLY),
        Err(Refusal::Foreign { owner: INVERT })
    );
    // Truncating is writing, even when opened for reading.
    assert!(open_as(STATS, INVERT_DATA, READ | libc::O_TRUNC).is_err());
    assert!(open_as(CAMERA, SUPERVISOR_DATA, WRITE).is_err());
    assert_eq!(
        open_as(CAMERA, SUPERVISOR_DATA, WRITE).unwrap_err().errno(),
        libc::EACCES
    );
}

#[test]
fn a_connection_is_written_by_its_two_ends_only() {
    assert_eq!(open_as(CAMERA, CAMERA_TO_INVERT, CREATE), Ok(()));
    assert_eq!(open_as(INVERT, CAMERA_TO_INVERT, WRITE), Ok(()));
    assert_eq!(open_as(INVERT, INVERT_TO_STATS, CREATE), Ok(()));
    assert_eq!(
        open_as(STATS, CAMERA_TO_INVERT, WRITE),
        Err(Refusal::Foreign { owner: CAMERA })
    );
}

#[test]
fn bookkeeping_is_shared_but_created_only_under_ones_own_id() {
    assert_eq!(open_as(CAMERA, DYNAMIC, WRITE), Ok(()));
    assert_eq!(open_as(STATS, EVENT_MGMT, WRITE), Ok(()));
    assert_eq!(open_as(INVERT, EVENT_MGMT, CREATE), Ok(()));
    assert_eq!(
        open_as(CAMERA, EVENT_MGMT, CREATE),
        Err(Refusal::Foreign { owner: INVERT })
    );
    assert_eq!(open_as(STATS, GLOBAL_MGMT, WRITE), Ok(()));
    assert_eq!(
        open_as(STATS, GLOBAL_MGMT, CREATE),
        Err(Refusal::SupervisorOnly)
    );
}

#[test]
fn counters_are_their_processors_workers() {
    let counts = |p: &str| format!("{PREFIX}counts_{p}");
    let create = libc::O_RDWR | libc::O_CREAT;
    assert_eq!(open_as(INVERT, &counts("invert"), create), Ok(()));
    assert_eq!(
        open_as(INVERT, &counts("camera"), create),
        Err(Refusal::OtherProcessor)
    );
    assert_eq!(open_as(INVERT, &counts("camera"), READ), Ok(()));
    assert_eq!(
        check_as(STATS, &counts("camera"), Access::Unlink),
        Err(Refusal::OtherProcessor)
    );
}

#[test]
fn nothing_outside_the_runtimes_worker_files_is_opened() {
    for name in [
        format!("{PREFIX}owner"),
        format!("{PREFIX}root"),
        CAMERA_DATA.replace("debdd5f8", "0badf00d"),
        "passwd".to_string(),
        format!("{PREFIX}counts_camera/../../etc/passwd"),
    ] {
        assert_eq!(
            open_as(CAMERA, &name, WRITE),
            Err(Refusal::NotAWorkerFile),
            "{name}"
        );
    }
    assert_eq!(
        check(
            PREFIX,
            b"plexus_debdd5f8_\xff",
            Requester {
                pid: CAMERA,
                processors: &[]
            },
            Access::Unlink,
            |_| true
        ),
        Err(Refusal::NotAWorkerFile)
    );
}

#[test]
fn odd_open_flags_are_refused() {
    for flag in [
        libc::O_PATH,
        libc::O_DIRECTORY,
        libc::O_TMPFILE,
        libc::O_APPEND,
    ] {
        assert_eq!(
            open_as(CAMERA, CAMERA_DATA, WRITE | flag),
            Err(Refusal::Flags(WRITE | flag))
        );
    }
    assert_eq!(
        open_as(
            CAMERA,
            CAMERA_DATA,
            WRITE | libc::O_NOFOLLOW | libc::O_CLOEXEC
        ),
        Ok(())
    );
}

#[test]
fn files_are_removed_by_their_owner_or_once_it_is_gone() {
    assert_eq!(check_as(CAMERA, CAMERA_DATA, Access::Unlink), Ok(()));
    assert_eq!(check_as(INVERT, CAMERA_TO_INVERT, Access::Unlink), Ok(()));
    assert_eq!(
        check_as(STATS, CAMERA_DATA, Access::Unlink),
        Err(Refusal::Foreign { owner: CAMERA })
    );
    assert!(check_as(STATS, SUPERVISOR_DATA, Access::Unlink).is_err());
    assert_eq!(check_as(STATS, DYNAMIC, Access::Unlink), Ok(()));
    // camera's process died: its leftovers may be cleaned by anyone.
    let requester = Requester {
        pid: STATS,
        processors: &[],
    };
    let camera_dead = |pid| pid != CAMERA;
    for name in [CAMERA_DATA, CAMERA_TO_INVERT] {
        assert_eq!(
            check(
                PREFIX,
                name.as_bytes(),
                requester,
                Access::Unlink,
                camera_dead
            ),
            Ok(())
        );
    }
    assert!(check(
        PREFIX,
        CAMERA_DATA.as_bytes(),
        requester,
        Access::Open { flags: WRITE },
        camera_dead
    )
    .is_err());
}
