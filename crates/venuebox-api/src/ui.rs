//! Serving the crew's built web app at `/`, behind the same login: the release installed from
//! the console or `venuebox ui install` (`app_install`), else `ui.static_dir`. With neither,
//! `/` is the box's own page (`home_page`), which sends a box never set up to its wizard. A
//! box that serves an app stays the app at `/`: whoever configured one has set the box up.
//!
//! The app has client-side routes that share paths with the API's root aliases (`/equipment`
//! is a page and an API path). A browser navigation asks for `text/html` and gets the app
//! (the file if it exists, else `index.html`); anything else reaches the API. Files the
//! routes do not claim (`/assets/…`, `/reset-app.html`) are served as they are.
use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web;

use crate::app_install::AppSlot;

/// Paths that are never the app's.
const RESERVED: &[&str] = &[
    "/api",
    "/socket.io",
    "/login",
    "/logout",
    "/health",
    "/admin",
    "/metrics",
    "/setup",
    "/box",
];

fn reserved(path: &str) -> bool {
    RESERVED.iter().any(|r| {
        path == *r || path.starts_with(&format!("{r}/")) || path.starts_with(&format!("{r}?"))
    })
}

/// The file under `root` a URL path names, refusing anything that climbs out of it.
pub fn file_for(root: &Path, path: &str) -> Option<PathBuf> {
    let mut file = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        // `..` and `.` cannot climb out; dotfiles (`.env`, `.git/`) are never the app's to
        // serve; a backslash is a separator to some clients.
        if segment.starts_with('.') || segment.contains('\\') {
            return None;
        }
        file.push(segment);
        // A symlink inside the folder could point anywhere on the box: not followed. (The
        // folder itself may be a link, e.g. to the current release.)
        if std::fs::symlink_metadata(&file)
            .ok()?
            .file_type()
            .is_symlink()
        {
            return None;
        }
    }
    file.is_file().then_some(file)
}

fn is_navigation(req: &ServiceRequest) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// Middleware: browser navigations get the app, for anyone signed in (viewer and up).
///
/// It decides which paths are the app's on the path the router would match (percent-decoded),
/// so an encoded spelling of `/api/…` is the API, not the app, just as routing sees it.
pub async fn serve_app(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.match_info().as_str().to_owned();
    let ui = req
        .app_data::<web::Data<AppSlot>>()
        .and_then(|slot| slot.dir());
    if let Some(ui) = ui
        && is_navigation(&req)
        && !reserved(&path)
    {
        match crate::auth::gate::principal(&req).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(crate::auth::gate::to_login(req)),
            Err(refusal) => {
                let response = actix_web::ResponseError::error_response(&refusal);
                return Ok(req.into_response(response));
            }
        }
        let file = file_for(&ui, &path).unwrap_or_else(|| ui.join("index.html"));
        if let Ok(named) = NamedFile::open_async(&file).await {
            let (http, _) = req.into_parts();
            let response = named.into_response(&http).map_into_boxed_body();
            return Ok(ServiceResponse::new(http, response));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// `/favicon.ico`, for anyone: browsers ask for it on the sign-in page too, and a 401 there
/// is noise in every console. The app's icon when the app has one (an icon tells a stranger
/// nothing), else `204 No Content`.
pub async fn favicon(
    req: actix_web::HttpRequest,
    slot: web::Data<AppSlot>,
) -> actix_web::HttpResponse {
    if let Some(ui) = slot.dir()
        && let Some(file) = file_for(&ui, "/favicon.ico")
        && let Ok(named) = NamedFile::open_async(&file).await
    {
        return named.into_response(&req);
    }
    actix_web::HttpResponse::NoContent().finish()
}

/// Unmatched GETs: a file of the app if there is one.
pub async fn static_file(
    req: actix_web::HttpRequest,
    slot: web::Data<AppSlot>,
) -> actix_web::HttpResponse {
    if let Some(ui) = slot.dir()
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && let Some(file) = file_for(&ui, req.match_info().as_str())
        && let Ok(named) = NamedFile::open_async(&file).await
    {
        return named.into_response(&req);
    }
    actix_web::ResponseError::error_response(&crate::error::ApiError::RouteNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "x").unwrap();
        assert!(file_for(dir.path(), "/index.html").is_some());
        assert!(file_for(dir.path(), "/../index.html").is_none());
        assert!(file_for(dir.path(), "/missing.js").is_none());
        // Dotfiles and symlinks out of the folder are not served.
        std::fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git").join("config"), "x").unwrap();
        assert!(file_for(dir.path(), "/.env").is_none());
        assert!(file_for(dir.path(), "/.git/config").is_none());
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("assets")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            dir.path().join("linked.txt"),
        )
        .unwrap();
        assert!(file_for(dir.path(), "/assets/secret.txt").is_none());
        assert!(file_for(dir.path(), "/linked.txt").is_none());
        assert!(reserved("/api/productions"));
        assert!(reserved("/socket.io/"));
        assert!(!reserved("/equipment"));
        assert!(!reserved("/apiary"));
    }
}
