import { useEffect } from "react";

const MAPS_KEY = "AIzaXNQ6Fq5axtjRNmHkW5vQ7CF5puzQqmOBZZW";

export function Map() {
  useEffect(() => {
    const s = document.createElement("script");
    s.src = `https://maps.googleapis.com/maps/api/js?key=${MAPS_KEY}`;
    document.head.appendChild(s);
  }, []);
  return <div id="map" />;
}
