import { useEffect, useState } from 'react'
import { Link, Route, Routes } from 'react-router-dom'

function Timer({ minutes }) {
  const [left, setLeft] = useState(minutes * 60)
  const [running, setRunning] = useState(false)

  useEffect(() => {
    if (!running) return
    const id = setInterval(() => setLeft((s) => Math.max(0, s - 1)), 1000)
    return () => clearInterval(id)
  }, [running])

  const mm = String(Math.floor(left / 60)).padStart(2, '0')
  const ss = String(left % 60).padStart(2, '0')
  return (
    <div className="timer">
      <p className="clock">{mm}:{ss}</p>
      <button onClick={() => setRunning((r) => !r)}>{running ? 'Pause' : 'Start'}</button>
      <button onClick={() => { setRunning(false); setLeft(minutes * 60) }}>Reset</button>
    </div>
  )
}

function Settings({ minutes, onChange }) {
  return (
    <label>
      Focus minutes{' '}
      <input type="number" min="1" max="90" value={minutes}
        onChange={(e) => onChange(Number(e.target.value) || 25)} />
    </label>
  )
}

export default function App() {
  const [minutes, setMinutes] = useState(25)
  return (
    <main>
      <nav><Link to="/">Timer</Link> | <Link to="/settings">Settings</Link></nav>
      <Routes>
        <Route path="/" element={<Timer key={minutes} minutes={minutes} />} />
        <Route path="/settings" element={<Settings minutes={minutes} onChange={setMinutes} />} />
      </Routes>
    </main>
  )
}
