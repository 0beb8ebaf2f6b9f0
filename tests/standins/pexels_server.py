"""A stand-in for the Pexels video API on 127.0.0.1, speaking its wire format.

``GET /videos/search`` answers realistic result pages from a small catalogue (filtered by query
words and orientation); ``GET /video-files/<id>/<w>x<h>.mp4`` serves real tiny MP4s. Every file of
a video is one solid colour with a band of magenta down each side (a quarter of the width each),
so a test can tell a cover-crop (only the colour shows) from a stretch (the bands show).

Run: ``python pexels_server.py PORT KEY FILES_DIR`` (the catalogue is ``CATALOGUE`` below).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from base import StandInHandler, prose, serve  # noqa: E402

from ttvd.media import ffmpeg_exe  # noqa: E402

BAND = "magenta"
# id, tags, colour (RGB hex), duration, file sizes (width x height), author
CATALOGUE = [
    (1001, "ocean waves sea water", "1060c0", 12, [(180, 320), (360, 640), (90, 160)], "Ana Ocean"),
    (1002, "ocean beach sea", "10a0a0", 12, [(360, 640), (720, 1280)], "Bo Beach"),
    (1003, "forest trees green", "208020", 12, [(180, 320), (360, 640)], "Cy Forest"),
    (1004, "city night lights", "c0a010", 12, [(180, 320), (360, 640)], "Di City"),
    (1005, "desert sand dunes", "20c020", 12, [(320, 180), (640, 360), (1280, 720)], "Ed Desert"),
    (1006, "mountain snow peak", "c04010", 12, [(180, 320), (360, 640)], "Fa Mountain"),
    (1007, "mountain lake short", "f0f0f0", 2, [(180, 320)], "Gi Short"),
    (1008, "forest landscape trees", "804020", 12, [(320, 180), (640, 360)], "Ha Landscape"),
    (1009, "city skyline street", "a02080", 12, [(320, 180), (640, 360)], "Io Skyline"),
]


class PexelsHandler(StandInHandler):
    routes = {("GET", "/videos/search"): "search", ("GET", "/video-files/"): "files"}

    def authorised(self) -> bool:
        return self.headers.get("Authorization") == self.server.key

    def needs_key(self, route: str) -> bool:
        return route == "search"  # files come from the CDN, which needs no key

    def error_body(self, status: int, pad: int) -> dict:
        """Pexels' error shape, with a message quoting the Authorization header it was given."""
        return {"code": status, "error": "Unauthorized" if status == 401 else f"Error {status}",
                "message": f"{prose(pad)}Authorization: {self.presented_key()}"}

    def search(self, path: str) -> None:
        words = set(self.query.get("query", "").lower().split())
        orientation = self.query.get("orientation")
        per_page = min(80, int(self.query.get("per_page", 15)))
        page = int(self.query.get("page", 1))
        hits = [v for v in CATALOGUE if words & set(v[1].split()) and _matches(v, orientation)]
        chosen = hits[(page - 1) * per_page: page * per_page]
        base = f"http://127.0.0.1:{self.server.server_port}"
        body = {"page": page, "per_page": per_page, "total_results": len(hits),
                "url": f"https://www.pexels.com/search/videos/{self.query.get('query', '')}/",
                "videos": [_video(v, base) for v in chosen]}
        if page * per_page < len(hits):
            body["next_page"] = f"{base}/videos/search?page={page + 1}&per_page={per_page}"
        self.send_json(200, body)

    def files(self, path: str) -> None:
        target = Path(self.server.files_dir) / Path(path).relative_to("/video-files")
        if ".." in path or not target.is_file():
            return self.send_json(404, {"error": "Not Found"})
        with self.server.lock:
            self.server.extra.setdefault("downloads", []).append(path)
        self.send_bytes(200, target.read_bytes(), "video/mp4")


def _matches(video, orientation: str | None) -> bool:
    width, height = video[4][0]
    shape = "portrait" if height > width else "landscape" if width > height else "square"
    return orientation in (None, shape)


def _video(video, base: str) -> dict:
    vid, tags, colour, duration, sizes, author = video
    width, height = max(sizes, key=lambda s: s[0] * s[1])
    slug = "-".join(tags.split()[:2])
    quality = lambda w, h: "uhd" if min(w, h) >= 2160 else "hd" if min(w, h) >= 720 else "sd"  # noqa: E731
    return {
        "id": vid, "width": width, "height": height, "duration": duration,
        "full_res": None, "tags": [], "url": f"https://www.pexels.com/video/{slug}-{vid}/",
        "image": f"https://images.pexels.com/videos/{vid}/pictures/preview-0.jpg", "avg_color": None,
        "user": {"id": vid * 10, "name": author, "url": f"https://www.pexels.com/@{author.split()[0].lower()}"},
        "video_files": [{"id": vid * 100 + i, "quality": quality(w, h), "file_type": "video/mp4", "width": w,
                         "height": h, "fps": 10.0, "link": f"{base}/video-files/{vid}/{w}x{h}.mp4",
                         "size": None}
                        for i, (w, h) in enumerate(sizes)],
        "video_pictures": [{"id": vid * 1000, "nr": 0,
                            "picture": f"https://images.pexels.com/videos/{vid}/pictures/preview-0.jpg"}],
    }


def make_files(files_dir: Path) -> None:
    """The catalogue's MP4s, made once per directory with the bundled ffmpeg."""
    for vid, _, colour, duration, sizes, _ in CATALOGUE:
        for width, height in sizes:
            path = files_dir / str(vid) / f"{width}x{height}.mp4"
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part.mp4")
            bands = (f"drawbox=x=0:y=0:w=iw/4:h=ih:color={BAND}:t=fill,"
                     f"drawbox=x=iw*3/4:y=0:w=iw/4:h=ih:color={BAND}:t=fill")
            subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"color=c=0x{colour}:s={width}x{height}:r=10:d={duration}", "-vf", bands,
                            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(tmp)], check=True)
            tmp.replace(path)


def colour_of(video_id: int) -> tuple[int, int, int]:
    colour = next(v[2] for v in CATALOGUE if v[0] == video_id)
    return tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("key")
    parser.add_argument("files_dir")
    args = parser.parse_args()
    make_files(Path(args.files_dir))
    serve(PexelsHandler, args.port, key=args.key, files_dir=args.files_dir)


if __name__ == "__main__":
    main()
